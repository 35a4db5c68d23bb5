package config

import (
	"strings"
	"testing"
)

func TestRelayTemplate(t *testing.T) {
	var c RelayConfig
	for _, tc := range []struct{ msg, want string }{{"hello", "Alice: hello"}, {"", "Alice"}} {
		if got, err := c.Render(RelayVars{Sender: "Alice", UserID: "@alice:example.org", Message: tc.msg}); err != nil || got != tc.want {
			t.Errorf("default template with %q = %q, %v; want %q", tc.msg, got, err, tc.want)
		}
	}
	for tpl, want := range map[string]string{
		"{{.Sender":                  "is not a valid template",
		"{{.Name}}: {{.Message}}":    "uses something other than",
		"{{.Message}}":               "must name the sender",
		"<{{.UserID}}> {{.Message}}": "",
	} {
		var problems []string
		c := RelayConfig{MessageTemplate: tpl}
		c.validate(func(key, format string, args ...any) { problems = append(problems, key+" "+format) })
		got := strings.Join(problems, "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("template %q: problems %q, want %q", tpl, got, want)
		}
	}
}
