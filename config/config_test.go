package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/appservice"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatalf("example-config.yaml does not validate: %v", err)
	}
	if cfg.Database.Type != "sqlite" || cfg.Bridge.CommandPrefix != "!wa" {
		t.Errorf("unexpected defaults: database %q, prefix %q", cfg.Database.Type, cfg.Bridge.CommandPrefix)
	}
	if cfg.WhatsApp.ResendWindow() != 24*time.Hour {
		t.Errorf("whatsapp.resend_window_hours gives %s, want the default of 24 h", cfg.WhatsApp.ResendWindow())
	}
	if cfg.Bridge.Presence.Own != config.OwnActive || cfg.Bridge.Presence.IdleSeconds != 120 {
		t.Errorf("bridge.presence is %q/%d, want active/120", cfg.Bridge.Presence.Own, cfg.Bridge.Presence.IdleSeconds)
	}
	if cfg.Bridge.MatrixRoomWorkers != 8 {
		t.Errorf("bridge.matrix_room_workers is %d, want 8", cfg.Bridge.MatrixRoomWorkers)
	}
	if cfg.HasTokens() {
		t.Error("example config must not ship with tokens")
	}
}

// patch sets a dotted key of the example config to value and returns the YAML.
func patch(t *testing.T, key string, value any) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(readExample(t), &doc); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(key, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	m[parts[len(parts)-1]] = value
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidationNamesTheBadKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key     string
		value   any
		wantMsg string
	}{
		{"homeserver.address", "localhost:8008", "homeserver.address: must be an http(s) URL"},
		{"homeserver.address", "ftp://x", "homeserver.address: must be an http(s) URL"},
		{"homeserver.address", "", "homeserver.address: is missing"},
		{"homeserver.address", "ftp://admin:hunter2@hs.example:8008", `got "ftp://admin:xxxxx@hs.example:8008"`},
		{"homeserver.address", "admin:hunter2@hs example", `got "admin:xxxxx@hs example"`},
		{"appservice.address", "", "appservice.address: is missing"},
		{"homeserver.domain", "", "homeserver.domain: must be the homeserver's server name"},
		{"appservice.address", "nope", "appservice.address: must be an http(s) URL"},
		{"appservice.port", 70000, "appservice.port: must be between 1 and 65535"},
		{"appservice.id", "Bad ID", "appservice.id:"},
		{"appservice.bot.username", "Bot User", "appservice.bot.username: must be a valid Matrix localpart"},
		{"appservice.max_body_size", 10, "appservice.max_body_size:"},
		{"homeserver.bot_sync", "sometimes", "homeserver.bot_sync: must be auto, on or off"},
		{"database.type", "mysql", "database.type: must be sqlite or postgres"},
		{"database.max_idle_conns", 50, "database.max_idle_conns:"},
		{"bridge.username_template", "whatsapp_", "bridge.username_template: must contain {{.}} exactly once"},
		{"bridge.username_template", "WA {{.}}", "bridge.username_template: must produce a valid Matrix localpart"},
		{"bridge.displayname_template", "{{.Broken", "bridge.displayname_template: is not a valid template"},
		{"bridge.command_prefix", "! wa", "bridge.command_prefix:"},
		{"bridge.permissions", map[string]any{"*": "superuser"}, `bridge.permissions.*: level must be relay, user or admin`},
		{"bridge.permissions", map[string]any{}, "bridge.permissions: must allow at least one"},
		{"bridge.login_timeout", 1, "bridge.login_timeout:"},
		{"bridge.matrix_room_workers", -1, "bridge.matrix_room_workers: must be between 1 and 256"},
		{"bridge.matrix_room_workers", 1000, "bridge.matrix_room_workers: must be between 1 and 256"},
		{"bridge.history_sync.max_chats", -2, "bridge.history_sync.max_chats: must be -1 (no limit)"},
		{"bridge.history_sync.max_messages_per_chat", -5, "bridge.history_sync.max_messages_per_chat:"},
		{"bridge.history_sync.max_media_per_chat", -3, "bridge.history_sync.max_media_per_chat:"},
		{"bridge.history_sync.max_age_days", -1, "bridge.history_sync.max_age_days: must be 0 (no limit)"},
		{"bridge.presence.own", "sometimes", "bridge.presence.own: must be active, always or never"},
		{"bridge.presence.idle_seconds", 5, "bridge.presence.idle_seconds: must be between 10 and 86400"},
		{"whatsapp.dial_address", "no-port", "whatsapp.dial_address: must be host:port"},
		{"whatsapp.noise_root_pubkey", "abcd", "whatsapp.noise_root_pubkey: must be 64 hex characters"},
		{"whatsapp.keepalive_interval", 1, "whatsapp.keepalive_interval: must be 0 (the default) or between 2 and 300"},
		{"whatsapp.resend_window_hours", 169, "whatsapp.resend_window_hours: must be -1 (off), 0 (the default, 24) or between 1 and 168"},
		{"whatsapp.resend_window_hours", -2, "whatsapp.resend_window_hours: must be -1 (off)"},
		{"logging.level", "verbose", "logging.level:"},
		{"logging.format", "xml", "logging.format: must be pretty or json"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			_, err := config.Parse(patch(t, tc.key, tc.value))
			if err == nil {
				t.Fatalf("%s=%v was accepted", tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestHistorySyncDefaults: without a history_sync section, history is on with the documented
// limits; the example config says the same.
func TestHistorySyncDefaults(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{"example": readExample(t), "absent": patch(t, "bridge.history_sync", map[string]any{})} {
		cfg, err := config.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		h := cfg.Bridge.HistorySync
		if !h.IsEnabled() || !h.SkipsArchived() || !h.MediaEnabled() || h.ChatLimit() != 50 ||
			h.MessageLimit() != 100 || h.MediaLimit() != 20 || h.MaxAgeDays != 0 {
			t.Errorf("%s: history_sync = enabled %v, skip archived %v, media %v, chats %d, messages %d, media %d, age %d",
				name, h.IsEnabled(), h.SkipsArchived(), h.MediaEnabled(), h.ChatLimit(), h.MessageLimit(), h.MediaLimit(), h.MaxAgeDays)
		}
	}
	cfg, err := config.Parse(patch(t, "bridge.history_sync", map[string]any{"enabled": false, "max_chats": -1}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bridge.HistorySync.IsEnabled() || cfg.Bridge.HistorySync.ChatLimit() != -1 {
		t.Error("enabled: false and max_chats: -1 were not taken")
	}
}

func TestPostgresURIRequiredForPostgres(t *testing.T) {
	t.Parallel()
	_, err := config.Parse(patch(t, "database.type", "postgres"))
	if err == nil || !strings.Contains(err.Error(), "database.uri: must be a postgres:// URI") {
		t.Fatalf("expected database.uri error, got %v", err)
	}
}

func TestInvalidYAMLAndMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := config.Parse([]byte("homeserver: [")); err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("broken YAML: got %v", err)
	}
	_, err := config.Load(filepath.Join(t.TempDir(), "config.yaml"))
	if err == nil || !strings.Contains(err.Error(), "cp example-config.yaml") {
		t.Errorf("missing file should say how to create one, got %v", err)
	}
}

func TestPermissionLevels(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{
		"@admin:example.org":  config.LevelAdmin,
		"@alice:example.org":  config.LevelUser,
		"@mallory:evil.test":  config.LevelRelay,
		"@admin:other.server": config.LevelRelay,
	} {
		if got := cfg.PermissionLevel(user); got != want {
			t.Errorf("PermissionLevel(%s) = %d, want %d", user, got, want)
		}
	}
}

func TestWriteRegistration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath, regPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	if err := os.WriteFile(cfgPath, readExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err = cfg.WriteRegistration(cfgPath, regPath); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("registration mode is %o, want 600", info.Mode().Perm())
	}
	reg, err := appservice.LoadRegistration(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.AppToken) < 32 || len(reg.ServerToken) < 32 || reg.AppToken == reg.ServerToken {
		t.Errorf("tokens are not random secrets: %q %q", reg.AppToken, reg.ServerToken)
	}
	if reg.URL != "http://localhost:29318" || reg.SenderLocalpart != "whatsappbot" || reg.ID != "whatsapp" {
		t.Errorf("unexpected registration fields: %+v", reg)
	}
	if reg.RateLimited == nil || *reg.RateLimited || !reg.EphemeralEvents || !reg.SoruEphemeralEvents {
		t.Errorf("rate limiting must be off and ephemeral events on: %+v", reg)
	}
	if len(reg.Namespaces.UserIDs) != 2 {
		t.Fatalf("want ghost and bot namespaces, got %+v", reg.Namespaces.UserIDs)
	}
	for _, ns := range reg.Namespaces.UserIDs {
		if !ns.Exclusive {
			t.Errorf("namespace %s is not exclusive", ns.Regex)
		}
	}
	ghostRe := reg.Namespaces.UserIDs[0].Regex
	for uid, want := range map[string]bool{
		"@whatsapp_4915112345678:example.org":       true,
		"@whatsapp_lid-123456789012345:example.org": true,
		"@whatsapp_1:other.org":                     false,
		"@alice:example.org":                        false,
	} {
		if got := mustMatch(t, ghostRe, uid); got != want {
			t.Errorf("ghost namespace %s matches %s = %v, want %v", ghostRe, uid, got, want)
		}
	}

	// The tokens were stored back into the config, comments kept, and it validates again.
	reloaded, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded.Appservice.ASToken != reg.AppToken || reloaded.Appservice.HSToken != reg.ServerToken {
		t.Error("tokens in config.yaml differ from the registration")
	}
	data, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(data), "# The Matrix homeserver the bridge is connected to.") {
		t.Error("comments of config.yaml were lost")
	}
	// Nothing else changed: comments, blank lines and order are the user's, line for line.
	before, after := strings.Split(string(readExample(t)), "\n"), strings.Split(string(data), "\n")
	if len(before) != len(after) {
		t.Fatalf("config.yaml has %d lines after -g, %d before", len(after), len(before))
	}
	for i := range before {
		if before[i] != after[i] && !strings.HasSuffix(after[i], "_token: "+reg.AppToken) && !strings.HasSuffix(after[i], "_token: "+reg.ServerToken) {
			t.Errorf("line %d of config.yaml changed from %q to %q", i+1, before[i], after[i])
		}
	}
	if info, _ := os.Stat(cfgPath); info.Mode().Perm()&0o077 != 0 {
		t.Errorf("config with secrets is readable by others: %o", info.Mode().Perm())
	}
}

// TestWriteDoublePuppetRegistration: with bridge.double_puppet.as_token "generate", -g also writes
// the double puppeting registration beside the bridge's (mode 0600, no URL, its own tokens, one
// non-exclusive namespace of the homeserver's users) and stores its as_token in the config; without
// it no such file is written.
func TestWriteDoublePuppetRegistration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath, regPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	if err := os.WriteFile(cfgPath, patch(t, "bridge.double_puppet.as_token", config.Placeholder), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("a config asking -g for the double puppeting registration is refused: %v", err)
	}
	if !cfg.Bridge.DoublePuppet.Requested() || cfg.Bridge.DoublePuppet.Enabled() {
		t.Errorf("as_token %q: requested %v, enabled %v; want requested, not yet enabled", config.Placeholder,
			cfg.Bridge.DoublePuppet.Requested(), cfg.Bridge.DoublePuppet.Enabled())
	}
	if err = cfg.WriteRegistration(cfgPath, regPath); err != nil {
		t.Fatal(err)
	}
	dpPath := config.DoublePuppetRegistrationPath(regPath)
	if dpPath != filepath.Join(dir, "doublepuppet-registration.yaml") {
		t.Errorf("double puppeting registration path %s", dpPath)
	}
	if info, err := os.Stat(dpPath); err != nil {
		t.Fatal(err)
	} else if info.Mode().Perm() != 0o600 {
		t.Errorf("double puppeting registration mode is %o, want 600", info.Mode().Perm())
	}
	reg, err := appservice.LoadRegistration(regPath)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := appservice.LoadRegistration(dpPath)
	if err != nil {
		t.Fatal(err)
	}
	reloaded, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if token := reloaded.Bridge.DoublePuppet.ASToken; token != dp.AppToken || !reloaded.Bridge.DoublePuppet.Enabled() {
		t.Errorf("config's double puppeting token %q, registration's %q; want the same, enabled", token, dp.AppToken)
	}
	reloaded.Bridge.DoublePuppet.ASToken = reloaded.Appservice.ASToken
	if err = reloaded.Validate(); err == nil || !strings.Contains(err.Error(), "bridge.double_puppet.as_token: must be the as_token of a second registration") {
		t.Errorf("the bridge's own as_token as the double puppeting token: %v, want an error naming the option", err)
	}
	tokens := map[string]bool{reg.AppToken: true, reg.ServerToken: true, dp.AppToken: true, dp.ServerToken: true}
	if len(tokens) != 4 || len(dp.AppToken) < 32 || len(dp.ServerToken) < 32 {
		t.Errorf("the double puppeting tokens are not fresh random secrets: %q %q", dp.AppToken, dp.ServerToken)
	}
	if dp.ID == reg.ID || dp.URL != "" || dp.RateLimited == nil || *dp.RateLimited {
		t.Errorf("unexpected double puppeting registration fields: %+v", dp)
	}
	if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(dp.SenderLocalpart) || dp.SenderLocalpart == reg.SenderLocalpart {
		t.Errorf("sender localpart %q is not a fresh valid localpart", dp.SenderLocalpart)
	}
	if len(dp.Namespaces.UserIDs) != 1 || dp.Namespaces.UserIDs[0].Exclusive {
		t.Fatalf("want one non-exclusive user namespace, got %+v", dp.Namespaces.UserIDs)
	}
	for uid, want := range map[string]bool{
		"@alice:example.org":                  true,
		"@whatsapp_4915112345678:example.org": true,
		"@alice:other.org":                    false,
		"@alice:example.org.evil":             false,
	} {
		if got := mustMatch(t, dp.Namespaces.UserIDs[0].Regex, uid); got != want {
			t.Errorf("double puppeting namespace %s matches %s = %v, want %v", dp.Namespaces.UserIDs[0].Regex, uid, got, want)
		}
	}

	// Without double puppeting, -g writes no second registration.
	plainDir := t.TempDir()
	cfgPath, regPath = filepath.Join(plainDir, "config.yaml"), filepath.Join(plainDir, "registration.yaml")
	if err = os.WriteFile(cfgPath, readExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	if err = cfg.WriteRegistration(cfgPath, regPath); err != nil {
		t.Fatal(err)
	}
	if _, err = os.Stat(config.DoublePuppetRegistrationPath(regPath)); !os.IsNotExist(err) {
		t.Errorf("a double puppeting registration was written without double puppeting: %v", err)
	}
}

func TestCheckRegistration(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.GenerateTokens()
	reg := cfg.Registration()
	if err = cfg.CheckRegistration(reg); err != nil {
		t.Fatalf("a fresh registration was refused: %v", err)
	}

	// The username template changed after the registration was generated.
	changed := *cfg
	changed.Bridge.UsernameTemplate = "wa_{{.}}"
	if err = changed.CheckRegistration(reg); err == nil || !strings.Contains(err.Error(), "do not cover @wa_4915112345678:example.org") {
		t.Errorf("stale namespace: got %v", err)
	}
	// A hand-written namespace of phone numbers and LIDs only leaves out the user that watches the
	// homeserver.
	digits := *reg
	digits.Namespaces.UserIDs = nil
	digits.Namespaces.UserIDs.Register(regexp.MustCompile(`^@whatsapp_(lid-)?[0-9]+:example\.org$`), true)
	digits.Namespaces.UserIDs.Register(regexp.MustCompile(`^@whatsappbot:example\.org$`), true)
	if err = cfg.CheckRegistration(&digits); err == nil || !strings.Contains(err.Error(), "do not cover @whatsapp_connection-check:example.org") {
		t.Errorf("namespace of numbers only: got %v", err)
	}
	// The tokens changed.
	other := *cfg
	other.GenerateTokens()
	if err = other.CheckRegistration(reg); err == nil || !strings.Contains(err.Error(), "tokens") {
		t.Errorf("stale tokens: got %v", err)
	}
	// A non-exclusive namespace does not count.
	weak := *reg
	weak.Namespaces.UserIDs = nil
	for _, ns := range reg.Namespaces.UserIDs {
		ns.Exclusive = false
		weak.Namespaces.UserIDs = append(weak.Namespaces.UserIDs, ns)
	}
	if err = cfg.CheckRegistration(&weak); err == nil {
		t.Error("a registration with non-exclusive namespaces was accepted")
	}
}

func TestCheckRegistrationFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath, regPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	if err := os.WriteFile(cfgPath, readExample(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err = cfg.CheckRegistrationFile(regPath); err != nil {
		t.Fatalf("a missing registration file was refused: %v", err)
	}
	if err = cfg.WriteRegistration(cfgPath, regPath); err != nil {
		t.Fatal(err)
	}
	if err = cfg.CheckRegistrationFile(regPath); err != nil {
		t.Fatalf("the generated registration was refused: %v", err)
	}
	cfg.Bridge.UsernameTemplate = "wa_{{.}}"
	if err = cfg.CheckRegistrationFile(regPath); err == nil || !strings.Contains(err.Error(), regPath) {
		t.Fatalf("a stale registration file gave %v", err)
	}
}

// A config whose domain was edited but whose permissions still name the example domain is refused
// with the key to edit; "*" allowed to log in is valid but warned about.
func TestExamplePermissionsAndWarnings(t *testing.T) {
	t.Parallel()
	_, err := config.Parse(patch(t, "homeserver.domain", "my.server"))
	if err == nil || !strings.Contains(err.Error(), `bridge.permissions.example.org: is the example config's entry: replace example.org with your homeserver's domain (my.server)`) ||
		!strings.Contains(err.Error(), "bridge.permissions.@admin:example.org") {
		t.Fatalf("example permissions with another domain: %v", err)
	}
	// A config still on the example's domain with another problem names both.
	_, err = config.Parse(patch(t, "bridge.permissions", map[string]any{}))
	if err == nil || !strings.Contains(err.Error(), "bridge.permissions") || !strings.Contains(err.Error(), `homeserver.domain: is the example config's placeholder "example.org"`) {
		t.Fatalf("example domain and no permissions: %v", err)
	}
	cfg, err := config.Parse(patch(t, "bridge.permissions", map[string]any{"*": "user"}))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], `bridge.permissions."*" is user`) {
		t.Fatalf("warnings %q", w)
	}
	cfg, err = config.Parse(patch(t, "bridge.permissions", map[string]any{"*": "relay", "example.org": "user"}))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Fatalf("warnings %q for a config that lets only its own domain in", w)
	}
}

// Misspelt keys are named: as warnings when the config is otherwise valid, and alongside the error
// they cause when it is not. The example config itself has none.
func TestUnknownKeysAreNamed(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Fatalf("the example config warns: %q", w)
	}
	cfg, err = config.Parse(patch(t, "homeserver.bot_synk", "auto"))
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "unknown option homeserver.bot_synk is ignored") {
		t.Fatalf("warnings %q", w)
	}
	var doc map[string]any
	if err = yaml.Unmarshal(readExample(t), &doc); err != nil {
		t.Fatal(err)
	}
	bridge := doc["bridge"].(map[string]any)
	bridge["permisions"] = bridge["permissions"]
	delete(bridge, "permissions")
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = config.Parse(data); err == nil || !strings.Contains(err.Error(), "bridge.permissions: must allow") ||
		!strings.Contains(err.Error(), "unknown options (misspelt?): bridge.permisions") {
		t.Fatalf("misspelt permissions: %v", err)
	}
}

// Mistakes that would only show later, once per ghost or user, are found at start.
func TestTemplateAndPermissionKeysChecked(t *testing.T) {
	t.Parallel()
	if _, err := config.Parse(patch(t, "bridge.displayname_template", "{{.Nmae}} (WA)")); err == nil ||
		!strings.Contains(err.Error(), "bridge.displayname_template: uses something other than") {
		t.Fatalf("template with a misspelt variable: %v", err)
	}
	if _, err := config.Parse(patch(t, "bridge.permissions", map[string]any{"admin:example.org": "admin"})); err == nil ||
		!strings.Contains(err.Error(), "bridge.permissions.admin:example.org: is neither a domain nor a user ID: a user ID starts with @ (@admin:example.org)") {
		t.Fatalf("user ID without @: %v", err)
	}
	if _, err := config.Parse(patch(t, "bridge.permissions", map[string]any{"example.org:8448": "user"})); err != nil {
		t.Fatalf("a server name with a port was refused: %v", err)
	}
}
