package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func exampleConfig(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestEnvNamesAreUnique: every option has its own variable (keys with underscores cannot collide
// with nested keys).
func TestEnvNamesAreUnique(t *testing.T) {
	var cfg Config
	fields := envFields(&cfg)
	keys := make(map[string]bool)
	for name, f := range fields {
		if EnvName(f.key) != name {
			t.Errorf("%s is listed under %s", f.key, name)
		}
		keys[f.key] = true
	}
	for _, key := range []string{"database.uri", "homeserver.address", "appservice.as_token", "appservice.bot.username", "bridge.permissions", "bridge.calls.notices", "metrics.listen"} {
		if !keys[key] {
			t.Errorf("option %s has no environment variable", key)
		}
	}
	if len(fields) < 30 {
		t.Errorf("only %d options found", len(fields))
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"HOME=/root",
		"MATRIX_WHATSAPP_DATABASE_TYPE=postgres",
		"MATRIX_WHATSAPP_DATABASE_URI=postgres://bridge:p#ss:w0rd@db/whatsapp?sslmode=disable",
		"MATRIX_WHATSAPP_HOMESERVER_ADDRESS=http://synapse:8008",
		"MATRIX_WHATSAPP_APPSERVICE_PORT= 29999",
		"MATRIX_WHATSAPP_APPSERVICE_AS_TOKEN=yes",
		"MATRIX_WHATSAPP_APPSERVICE_BOT_USERNAME=wabot",
		"MATRIX_WHATSAPP_METRICS_ENABLED=true",
		`MATRIX_WHATSAPP_BRIDGE_PERMISSIONS={"example.com": user, "@admin:example.com": admin}`,
		"MATRIX_WHATSAPP_BRIDGE_CALLS_NOTICES=false",
	}
	cfg, err := ParseWithEnv(exampleConfig(t), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Type != "postgres" || cfg.Database.URI != "postgres://bridge:p#ss:w0rd@db/whatsapp?sslmode=disable" {
		t.Errorf("database = %+v", cfg.Database)
	}
	if cfg.Homeserver.Address != "http://synapse:8008" || cfg.Appservice.Port != 29999 || cfg.Appservice.Bot.Username != "wabot" {
		t.Errorf("homeserver %q, port %d, bot %q", cfg.Homeserver.Address, cfg.Appservice.Port, cfg.Appservice.Bot.Username)
	}
	// A string option takes the value as written, even one YAML would read as a boolean.
	if cfg.Appservice.ASToken != "yes" {
		t.Errorf("as_token = %q, want the string as given", cfg.Appservice.ASToken)
	}
	if !cfg.Metrics.Enabled || cfg.Bridge.Calls.NoticesEnabled() {
		t.Errorf("metrics.enabled %v, calls.notices %v", cfg.Metrics.Enabled, cfg.Bridge.Calls.NoticesEnabled())
	}
	if len(cfg.Bridge.Permissions) != 2 || cfg.PermissionLevel("@admin:example.com") != LevelAdmin {
		t.Errorf("permissions = %v", cfg.Bridge.Permissions)
	}
	want := []string{"appservice.as_token", "appservice.bot.username", "appservice.port", "bridge.calls.notices", "bridge.permissions",
		"database.type", "database.uri", "homeserver.address", "metrics.enabled"}
	if !slices.Equal(cfg.FromEnv, want) {
		t.Errorf("FromEnv = %v, want %v", cfg.FromEnv, want)
	}
	// Without the variables the file's values stay.
	plain, err := ParseWithEnv(exampleConfig(t), []string{"HOME=/root"})
	if err != nil || plain.Database.Type != "sqlite" || len(plain.FromEnv) != 0 {
		t.Errorf("without overrides: %v, %q, %v", err, plain.Database.Type, plain.FromEnv)
	}
}

// TestEnvOverrideErrors: bad variables are reported by name and option, never with their value,
// and overridden values are validated like the file's.
func TestEnvOverrideErrors(t *testing.T) {
	const secret = "hunter2-secret"
	cases := []struct {
		env  string
		want []string
	}{
		{"MATRIX_WHATSAPP_APPSERVICE_PORT=" + secret, []string{"MATRIX_WHATSAPP_APPSERVICE_PORT", "appservice.port", "integer"}},
		{"MATRIX_WHATSAPP_METRICS_ENABLED=" + secret, []string{"MATRIX_WHATSAPP_METRICS_ENABLED", "true or false"}},
		{"MATRIX_WHATSAPP_DATABASE_URL=" + secret, []string{"MATRIX_WHATSAPP_DATABASE_URL", "no such option", "MATRIX_WHATSAPP_DATABASE_URI"}},
		{"MATRIX_WHATSAPP_BRIDGE_PERMISSIONS=[" + secret, []string{"MATRIX_WHATSAPP_BRIDGE_PERMISSIONS", "bridge.permissions", "YAML"}},
		{"MATRIX_WHATSAPP_DATABASE_TYPE=mysql", []string{"database.type", "sqlite or postgres"}},
		{"MATRIX_WHATSAPP_METRICS_LISTEN=nowhere", []string{"metrics.listen"}},
	}
	for _, c := range cases {
		_, err := ParseWithEnv(exampleConfig(t), []string{c.env})
		if err == nil {
			t.Errorf("%s: no error", c.env)
			continue
		}
		for _, part := range c.want {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q does not mention %q", c.env, err, part)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %q shows the value", c.env, err)
		}
	}
}
