package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"go.mau.fi/util/random"
	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/appservice"
)

// Placeholder is the token value that means "not generated yet".
const Placeholder = "generate"

// HasTokens reports whether the registration tokens have been generated.
func (cfg *Config) HasTokens() bool {
	return cfg.Appservice.ASToken != "" && cfg.Appservice.ASToken != Placeholder &&
		cfg.Appservice.HSToken != "" && cfg.Appservice.HSToken != Placeholder
}

// GenerateTokens replaces the appservice tokens with fresh random ones.
func (cfg *Config) GenerateTokens() {
	cfg.Appservice.ASToken = random.String(64)
	cfg.Appservice.HSToken = random.String(64)
}

// HomeserverWatchIdentifier is what bridge.username_template makes the localpart of the user that
// watches the homeserver from (bridge/hswatch.go): it is neither a phone number nor a LID, so no
// ghost has it, and the ghost namespace covers it.
const HomeserverWatchIdentifier = "connection-check"

// GhostRegex matches the user IDs of every ghost the bridge can create.
func (cfg *Config) GhostRegex() string {
	prefix, suffix, _ := strings.Cut(cfg.Bridge.UsernameTemplate, "{{.}}")
	return fmt.Sprintf("^@%s.+%s:%s$", regexp.QuoteMeta(prefix), regexp.QuoteMeta(suffix), regexp.QuoteMeta(cfg.Homeserver.Domain))
}

// BotRegex matches the bridge bot's user ID.
func (cfg *Config) BotRegex() string {
	return fmt.Sprintf("^@%s:%s$", regexp.QuoteMeta(cfg.Appservice.Bot.Username), regexp.QuoteMeta(cfg.Homeserver.Domain))
}

// Registration builds the appservice registration from the config: the bot as sender, an exclusive
// namespace for the ghosts and the bot, ephemeral events on, rate limiting off.
func (cfg *Config) Registration() *appservice.Registration {
	rateLimited := false
	reg := &appservice.Registration{
		ID:                  cfg.Appservice.ID,
		URL:                 cfg.Appservice.Address,
		AppToken:            cfg.Appservice.ASToken,
		ServerToken:         cfg.Appservice.HSToken,
		SenderLocalpart:     cfg.Appservice.Bot.Username,
		RateLimited:         &rateLimited,
		SoruEphemeralEvents: true,
		EphemeralEvents:     true,
	}
	reg.Namespaces.UserIDs.Register(regexp.MustCompile(cfg.GhostRegex()), true)
	reg.Namespaces.UserIDs.Register(regexp.MustCompile(cfg.BotRegex()), true)
	return reg
}

// WriteRegistration generates fresh tokens, writes the registration to regPath (mode 0600) and stores
// the tokens back into the config file at cfgPath, keeping its comments and layout. When double
// puppeting is requested (bridge.double_puppet.as_token set, or "generate") it also writes the
// double puppeting registration with a fresh as_token to DoublePuppetRegistrationPath(regPath)
// (mode 0600) and stores that token in the config.
func (cfg *Config) WriteRegistration(cfgPath, regPath string) error {
	cfg.GenerateTokens()
	if err := saveRegistration(cfg.Registration(), regPath); err != nil {
		return err
	}
	var dpToken string
	if cfg.Bridge.DoublePuppet.Requested() {
		cfg.Bridge.DoublePuppet.ASToken = random.String(64)
		dpToken = cfg.Bridge.DoublePuppet.ASToken
		reg, err := cfg.DoublePuppetRegistration()
		if err != nil {
			return err
		}
		if err = saveRegistration(reg, DoublePuppetRegistrationPath(regPath)); err != nil {
			return err
		}
	}
	if err := saveTokens(cfgPath, cfg.Appservice.ASToken, cfg.Appservice.HSToken, dpToken); err != nil {
		return fmt.Errorf("failed to store tokens in %s: %w", cfgPath, err)
	}
	return nil
}

// saveRegistration writes reg to path, readable only by its owner.
func saveRegistration(reg *appservice.Registration, path string) error {
	if err := reg.Save(path); err != nil {
		return fmt.Errorf("failed to write registration %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("failed to restrict permissions of %s: %w", path, err)
	}
	return nil
}

// saveTokens edits appservice.as_token and appservice.hs_token (and bridge.double_puppet.as_token
// when dpToken is not empty) in the YAML document at path without touching anything else, so the
// user's comments and blank lines survive: each value is replaced where it stands in the file's
// text. Only when a key is missing or its value is written in a form that cannot be replaced in
// place (a block scalar, escapes) is the document re-encoded, which keeps comments but loses
// blank lines inside sections.
func saveTokens(path, asToken, hsToken, dpToken string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err = yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("config is not a YAML mapping")
	}
	as := mappingChild(doc.Content[0], "appservice")
	edits := []scalarEdit{{as, "as_token", asToken}, {as, "hs_token", hsToken}}
	if dpToken != "" {
		edits = append(edits, scalarEdit{mappingChild(mappingChild(doc.Content[0], "bridge"), "double_puppet"), "as_token", dpToken})
	}
	out, ok := replaceScalarsInText(data, edits)
	if !ok {
		for _, e := range edits {
			setScalar(e.mapping, e.key, e.value)
		}
		if out, err = yaml.Marshal(&doc); err != nil {
			return err
		}
		out = separateSections(out)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	// The config now holds secrets: never leave it readable by others.
	perm := info.Mode().Perm() & 0o700
	if err = os.WriteFile(path, out, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

func mappingChild(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, child)
	return child
}

// scalarEdit sets key of mapping to value.
type scalarEdit struct {
	mapping    *yaml.Node
	key, value string
}

// replaceScalarsInText applies edits to data, the text the mappings were parsed from, by replacing
// each value where it stands (yaml.Node.Line and Column) and leaving every other byte as it was.
// It reports false, changing nothing, when a key is missing or a value is not a one-line plain or
// simply quoted scalar. New values must be plain-safe (the tokens are letters and digits).
func replaceScalarsInText(data []byte, edits []scalarEdit) ([]byte, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	type spot struct {
		line, start int
		raw, value  string
	}
	spots := make([]spot, 0, len(edits))
	for _, e := range edits {
		_, val := lookup(e.mapping, e.key)
		if val == nil || val.Kind != yaml.ScalarNode || val.Line < 1 || val.Line > len(lines) {
			return data, false
		}
		var raw string
		switch val.Style {
		case 0:
			raw = val.Value
		case yaml.SingleQuotedStyle:
			raw = "'" + strings.ReplaceAll(val.Value, "'", "''") + "'"
		case yaml.DoubleQuotedStyle:
			if strings.ContainsAny(val.Value, "\"\\") {
				return data, false
			}
			raw = `"` + val.Value + `"`
		default:
			return data, false
		}
		line := lines[val.Line-1]
		start := val.Column - 1
		if raw == "" || strings.Contains(raw, "\n") || start < 0 || start > len(line) || !strings.HasPrefix(line[start:], raw) {
			return data, false
		}
		spots = append(spots, spot{val.Line - 1, start, raw, e.value})
	}
	for _, sp := range spots {
		line := lines[sp.line]
		lines[sp.line] = line[:sp.start] + sp.value + line[sp.start+len(sp.raw):]
	}
	return []byte(strings.Join(lines, "")), true
}

func setScalar(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// CheckRegistration verifies that the registration installed on the homeserver fits this config:
// the same tokens, and exclusive namespaces covering the bot and every kind of ghost the bridge
// creates (phone-number and LID ghosts). A mismatch means the homeserver would refuse the bridge's
// users, so the bridge must not start with it.
func (cfg *Config) CheckRegistration(reg *appservice.Registration) error {
	if reg.AppToken != cfg.Appservice.ASToken || reg.ServerToken != cfg.Appservice.HSToken {
		return fmt.Errorf("the tokens in the registration differ from appservice.as_token/hs_token in the config: regenerate it with -g and reload the homeserver")
	}
	samples := []string{
		"@" + cfg.Appservice.Bot.Username + ":" + cfg.Homeserver.Domain,
		"@" + cfg.FormatUsername("4915112345678") + ":" + cfg.Homeserver.Domain,
		"@" + cfg.FormatUsername("lid-123456789012345") + ":" + cfg.Homeserver.Domain,
		"@" + cfg.FormatUsername(HomeserverWatchIdentifier) + ":" + cfg.Homeserver.Domain,
	}
	for _, userID := range samples {
		covered := false
		for _, ns := range reg.Namespaces.UserIDs {
			re, err := regexp.Compile(ns.Regex)
			if err == nil && ns.Exclusive && re.MatchString(userID) {
				covered = true
				break
			}
		}
		if !covered {
			return fmt.Errorf("the registration's user namespaces do not cover %s (did bridge.username_template or the domain change?): regenerate it with -g and reload the homeserver", userID)
		}
	}
	return nil
}

// CheckRegistrationFile checks the registration file at path with CheckRegistration, so that a stale
// registration is caught at startup instead of as refused ghosts later. A missing file is not an
// error: the homeserver's copy may live elsewhere.
func (cfg *Config) CheckRegistrationFile(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	reg, err := appservice.LoadRegistration(path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	if err = cfg.CheckRegistration(reg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
