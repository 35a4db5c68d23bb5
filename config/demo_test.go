package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// demoConfig returns the bridge config scripts/demo.sh writes, with its shell variables filled in.
func demoConfig(t *testing.T) []byte {
	t.Helper()
	script, err := os.ReadFile("../scripts/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)config\.yaml" <<-YAML\n(.*?)\nYAML\n`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/demo.sh has no bridge config heredoc")
	}
	vars := strings.NewReplacer("$hs_url", "http://127.0.0.1:8008", "$domain", "demo.localhost",
		"$bridge_url", "http://127.0.0.1:29318", "$as_port", "29318", "$data", "/tmp/demo",
		"$wa_port", "5222", "$wa_root_pubkey", strings.Repeat("ab", 32), "$user", "alice")
	return []byte(vars.Replace(string(m[1])))
}

// The demo shows ghosts under the same names as a default install: a business contact known only
// by its verified name appears under that name, a contact with a first name under it.
func TestDemoConfigUsesDefaultDisplayNames(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(demoConfig(t))
	if err != nil {
		t.Fatalf("the demo's config does not validate: %v", err)
	}
	tpl := template.Must(template.New("").Parse(cfg.Bridge.DisplaynameTemplate))
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"BusinessName": "Acme Bakery", "Phone": "+4915112345678"}, "Acme Bakery (WA)"},
		{map[string]string{"FirstName": "Bob", "PushName": "bobby", "Phone": "+4915112345678"}, "Bob (WA)"},
		{map[string]string{"PushName": "bobby", "BusinessName": "Acme", "Phone": "+49"}, "bobby (WA)"},
		{map[string]string{"FullName": "Carol C", "FirstName": "Carol"}, "Carol C (WA)"},
	} {
		for _, k := range []string{"FullName", "FirstName", "PushName", "BusinessName", "Phone"} {
			if _, ok := c.vars[k]; !ok {
				c.vars[k] = ""
			}
		}
		var sb strings.Builder
		if err := tpl.Execute(&sb, c.vars); err != nil {
			t.Fatal(err)
		}
		if sb.String() != c.want {
			t.Errorf("demo shows %v as %q, want %q", c.vars, sb.String(), c.want)
		}
	}
}
