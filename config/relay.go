package config

import (
	"bytes"
	"strings"
	"text/template"
)

// DefaultRelayTemplate is bridge.relay.message_template's default: "Alice: hello", and just the
// sender's name for an attachment without caption.
const DefaultRelayTemplate = "{{.Sender}}{{if .Message}}: {{.Message}}{{end}}"

// RelayConfig is relay mode (bridge/relay.go): a logged-in user's WhatsApp account sends, in one
// portal, the messages of Matrix users who have no login, each prefixed with the sender's name.
type RelayConfig struct {
	// Enabled allows set-relay at all. Off by default.
	Enabled bool `yaml:"enabled"`
	// AdminOnly lets only bridge admins run set-relay and unset-relay; nil means on.
	AdminOnly *bool `yaml:"admin_only"`
	// AllowInDMs allows relaying in direct chats too (by default only in groups).
	AllowInDMs bool `yaml:"allow_in_dms"`
	// MessageTemplate is a Go text/template making the relayed text from .Sender (the Matrix
	// display name, else the user ID), .UserID and .Message (the text or the attachment's caption,
	// possibly empty).
	MessageTemplate string `yaml:"message_template"`

	tpl *template.Template
}

// IsAdminOnly reports whether only admins may set a relay (bridge.relay.admin_only, default true).
func (c RelayConfig) IsAdminOnly() bool {
	return c.AdminOnly == nil || *c.AdminOnly
}

// RelayVars are what bridge.relay.message_template may use.
type RelayVars struct {
	Sender  string
	UserID  string
	Message string
}

// Render makes the relayed text of a message.
func (c *RelayConfig) Render(vars RelayVars) (string, error) {
	tpl := c.tpl // set by Validate; parsed here for configs that were never validated
	if tpl == nil {
		var err error
		if tpl, err = c.parse(); err != nil {
			return "", err
		}
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, vars); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func (c *RelayConfig) parse() (*template.Template, error) {
	text := c.MessageTemplate
	if text == "" {
		text = DefaultRelayTemplate
	}
	return template.New("relay").Option("missingkey=error").Parse(text)
}

// validate reports a template that does not parse or names a variable it lacks.
func (c *RelayConfig) validate(bad func(key, format string, args ...any)) {
	tpl, err := c.parse()
	if err != nil {
		bad("bridge.relay.message_template", "is not a valid template: %v", err)
		return
	}
	var buf bytes.Buffer
	if err = tpl.Execute(&buf, RelayVars{Sender: "Alice", UserID: "@alice:example.org", Message: "hello"}); err != nil {
		bad("bridge.relay.message_template", "uses something other than .Sender, .UserID and .Message: %v", err)
	} else if !strings.Contains(buf.String(), "Alice") && !strings.Contains(buf.String(), "@alice:example.org") {
		bad("bridge.relay.message_template", "must name the sender (.Sender or .UserID), got %q", c.MessageTemplate)
	}
	c.tpl = tpl
}
