package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// Permission levels, ordered: a higher level may do everything a lower one may.
const (
	LevelNone  = 0
	LevelRelay = 5
	LevelUser  = 10
	LevelAdmin = 100
)

// displaynameVars are the variables bridge.displayname_template may use (the fields of
// puppet.ContactInfo it documents); validation runs the template on them.
type displaynameVars struct {
	FullName, FirstName, PushName, BusinessName, Phone string
}

// isPort reports whether s is a port number (a server name may carry one: example.org:8448).
func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

// exampleDomain is the placeholder domain of example-config.yaml.
const exampleDomain = "example.org"

// CheckNotExample refuses a config whose homeserver.domain is still the example config's
// placeholder (example.org): the bridge would register ghosts and permissions for a server that is
// not the user's. Validate accepts it, so that the example config itself parses; the binary calls
// this before generating a registration or starting.
func (cfg *Config) CheckNotExample() error {
	if cfg.Homeserver.Domain == exampleDomain {
		return fmt.Errorf("homeserver.domain: is the example config's placeholder %q: set it to your homeserver's server name (and edit homeserver.address and bridge.permissions to match)", exampleDomain)
	}
	return nil
}

var levelNames = map[string]int{"relay": LevelRelay, "user": LevelUser, "admin": LevelAdmin}

var localpartRegex = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

// Validate checks every option and returns all problems at once, each naming the key and why.
func (cfg *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if cfg.Homeserver.Address == "" {
		bad("homeserver.address", "is missing: set it to the URL the bridge reaches the homeserver at (e.g. http://localhost:8008)")
	} else if !isHTTPURL(cfg.Homeserver.Address) {
		bad("homeserver.address", "must be an http(s) URL, got %q", showURL(cfg.Homeserver.Address))
	}
	if cfg.Homeserver.Domain == "" || strings.ContainsAny(cfg.Homeserver.Domain, "/@ ") {
		bad("homeserver.domain", "must be the homeserver's server name (e.g. example.org), got %q", cfg.Homeserver.Domain)
	}
	if ep := cfg.Homeserver.StatusEndpoint; ep != "" && !isHTTPURL(ep) {
		bad("homeserver.status_endpoint", "must be empty or an http(s) URL, got %q", showURL(ep))
	}
	switch cfg.Homeserver.BotSync {
	case BotSyncAuto, BotSyncOn, BotSyncOff:
	default:
		bad("homeserver.bot_sync", "must be auto, on or off, got %q", cfg.Homeserver.BotSync)
	}
	if cfg.Appservice.Address == "" {
		bad("appservice.address", "is missing: set it to the URL the homeserver reaches the bridge at (e.g. http://localhost:29318)")
	} else if !isHTTPURL(cfg.Appservice.Address) {
		bad("appservice.address", "must be an http(s) URL the homeserver can reach the bridge at, got %q", showURL(cfg.Appservice.Address))
	}
	if cfg.Appservice.Port < 1 || cfg.Appservice.Port > 65535 {
		bad("appservice.port", "must be between 1 and 65535, got %d", cfg.Appservice.Port)
	}
	if !localpartRegex.MatchString(cfg.Appservice.ID) {
		bad("appservice.id", "must be a non-empty lowercase identifier, got %q", cfg.Appservice.ID)
	}
	if !localpartRegex.MatchString(cfg.Appservice.Bot.Username) {
		bad("appservice.bot.username", "must be a valid Matrix localpart (lowercase letters, digits, ._=-/+), got %q", cfg.Appservice.Bot.Username)
	}
	if cfg.Appservice.MaxBodySize < 64<<10 {
		bad("appservice.max_body_size", "must be at least 65536 bytes, got %d", cfg.Appservice.MaxBodySize)
	}
	switch cfg.Database.Type {
	case "sqlite", "postgres":
	default:
		bad("database.type", "must be sqlite or postgres, got %q", cfg.Database.Type)
	}
	if cfg.Database.URI == "" {
		bad("database.uri", "must not be empty")
	} else if cfg.Database.Type == "postgres" && !strings.HasPrefix(cfg.Database.URI, "postgres://") && !strings.HasPrefix(cfg.Database.URI, "postgresql://") {
		bad("database.uri", "must be a postgres:// URI when database.type is postgres")
	}
	if cfg.Database.MaxOpenConns < 1 {
		bad("database.max_open_conns", "must be at least 1, got %d", cfg.Database.MaxOpenConns)
	}
	if cfg.Database.MaxIdleConns < 0 || cfg.Database.MaxIdleConns > cfg.Database.MaxOpenConns {
		bad("database.max_idle_conns", "must be between 0 and max_open_conns, got %d", cfg.Database.MaxIdleConns)
	}
	if err := cfg.validateUsernameTemplate(); err != nil {
		bad("bridge.username_template", "%v", err)
	}
	if tpl, err := template.New("displayname").Parse(cfg.Bridge.DisplaynameTemplate); err != nil {
		bad("bridge.displayname_template", "is not a valid template: %v", err)
	} else if err = tpl.Execute(io.Discard, displaynameVars{FullName: "Alice Liddell", Phone: "+4915112345678"}); err != nil {
		// A misspelt variable only fails when a name is made: find it now.
		bad("bridge.displayname_template", "uses something other than .FullName, .FirstName, .PushName, .BusinessName and .Phone: %v", err)
	}
	if cfg.Bridge.CommandPrefix == "" || strings.ContainsAny(cfg.Bridge.CommandPrefix, " \n") {
		bad("bridge.command_prefix", "must be a non-empty word without spaces, got %q", cfg.Bridge.CommandPrefix)
	}
	if len(cfg.Bridge.Permissions) == 0 {
		bad("bridge.permissions", "must allow at least one user, domain or \"*\"")
	}
	for key, level := range cfg.Bridge.Permissions {
		if _, ok := levelNames[level]; !ok {
			bad("bridge.permissions."+key, "level must be relay, user or admin, got %q", level)
		}
		if key != "*" && strings.HasPrefix(key, "@") && !strings.Contains(key, ":") {
			bad("bridge.permissions."+key, "a user ID must look like @user:server")
		}
		if host, port, ok := strings.Cut(key, ":"); ok && !strings.HasPrefix(key, "@") && !isPort(port) {
			bad("bridge.permissions."+key, "is neither a domain nor a user ID: a user ID starts with @ (@%s:%s)", host, port)
		}
		if cfg.Homeserver.Domain != exampleDomain && (key == exampleDomain || strings.HasSuffix(key, ":"+exampleDomain)) {
			bad("bridge.permissions."+key, "is the example config's entry: replace %s with your homeserver's domain (%s) or remove it", exampleDomain, cfg.Homeserver.Domain)
		}
	}
	if cfg.Bridge.LoginTimeout < 10 {
		bad("bridge.login_timeout", "must be at least 10 seconds, got %d", cfg.Bridge.LoginTimeout)
	}
	if cfg.Bridge.MatrixRoomWorkers < 1 || cfg.Bridge.MatrixRoomWorkers > 256 {
		bad("bridge.matrix_room_workers", "must be between 1 and 256, got %d", cfg.Bridge.MatrixRoomWorkers)
	}
	cfg.Bridge.Calls.validate(bad)       // calls.go
	cfg.Bridge.HistorySync.validate(bad) // history.go
	cfg.Bridge.Presence.validate(bad)    // presence.go
	cfg.Bridge.Relay.validate(bad)       // relay.go
	cfg.Bridge.Import.validate(bad)      // import.go
	if dp := cfg.Bridge.DoublePuppet.ASToken; cfg.Bridge.DoublePuppet.Enabled() && dp == cfg.Appservice.ASToken {
		bad("bridge.double_puppet.as_token", "must be the as_token of a second registration, not the bridge's own (homeservers refuse two registrations with one token)")
	}
	if cfg.Bridge.UndecryptableWait < -1 {
		bad("bridge.undecryptable_wait", "must be -1 (wait forever), 0 (the default) or a number of seconds, got %d", cfg.Bridge.UndecryptableWait)
	}
	if cfg.WhatsApp.DeviceName == "" {
		bad("whatsapp.device_name", "must not be empty")
	}
	for key, addr := range map[string]string{"whatsapp.dial_address": cfg.WhatsApp.DialAddress, "whatsapp.media_dial_address": cfg.WhatsApp.MediaDialAddress} {
		if addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				bad(key, "must be host:port, got %q", addr)
			}
		}
	}
	if key := cfg.WhatsApp.NoiseRootPubkey; key != "" {
		if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
			bad("whatsapp.noise_root_pubkey", "must be 64 hex characters (a 32-byte key)")
		}
	}
	if v := cfg.WhatsApp.KeepaliveInterval; v != 0 && (v < 2 || v > 300) {
		bad("whatsapp.keepalive_interval", "must be 0 (the default) or between 2 and 300 seconds, got %d", v)
	}
	if v := cfg.WhatsApp.ResendWindowHours; v != -1 && (v < 1 || v > 168) {
		bad("whatsapp.resend_window_hours", "must be -1 (off), 0 (the default, 24) or between 1 and 168 hours, got %d", v)
	}
	switch cfg.Logging.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("logging.level", "must be trace, debug, info, warn or error, got %q", cfg.Logging.Level)
	}
	switch cfg.Logging.Format {
	case "pretty", "json":
	default:
		bad("logging.format", "must be pretty or json, got %q", cfg.Logging.Format)
	}
	cfg.Metrics.validate(bad)      // metrics.go
	cfg.Provisioning.validate(bad) // provisioning.go
	cfg.Encryption.validate(bad)   // encryption.go
	return errors.Join(errs...)
}

// showURL is s for an error message, with a password in it (user:password@) masked, also where s
// does not parse as a URL.
func showURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		start := strings.Index(s, "://") + 3 // 2 without a scheme: the user part starts at 0 then
		if start < 3 {
			start = 0
		}
		if colon := strings.Index(s[start:at], ":"); colon >= 0 {
			return s[:start+colon+1] + "xxxxx" + s[at:]
		}
	}
	return s
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (cfg *Config) validateUsernameTemplate() error {
	tpl := cfg.Bridge.UsernameTemplate
	if strings.Count(tpl, "{{.}}") != 1 {
		return fmt.Errorf("must contain {{.}} exactly once, got %q", tpl)
	}
	sample := strings.Replace(tpl, "{{.}}", "4915112345678", 1)
	if !localpartRegex.MatchString(sample) {
		return fmt.Errorf("must produce a valid Matrix localpart, %q would give %q", tpl, sample)
	}
	if sample == cfg.Appservice.Bot.Username {
		return fmt.Errorf("must not produce the bot's username")
	}
	return nil
}

// PermissionLevel returns the level the config grants userID: an exact user entry wins over the
// user's domain, which wins over "*".
func (cfg *Config) PermissionLevel(userID string) int {
	if level, ok := cfg.Bridge.Permissions[userID]; ok {
		return levelNames[level]
	}
	if idx := strings.IndexByte(userID, ':'); idx > 0 {
		if level, ok := cfg.Bridge.Permissions[userID[idx+1:]]; ok {
			return levelNames[level]
		}
	}
	return levelNames[cfg.Bridge.Permissions["*"]]
}

// FormatUsername returns the ghost localpart for a WhatsApp identifier (digits or "lid-<digits>").
func (cfg *Config) FormatUsername(identifier string) string {
	return strings.Replace(cfg.Bridge.UsernameTemplate, "{{.}}", identifier, 1)
}

// ParseUsername extracts the WhatsApp identifier from a ghost localpart, or returns false when the
// localpart is not a ghost of this bridge.
func (cfg *Config) ParseUsername(localpart string) (string, bool) {
	prefix, suffix, _ := strings.Cut(cfg.Bridge.UsernameTemplate, "{{.}}")
	if len(localpart) <= len(prefix)+len(suffix) || !strings.HasPrefix(localpart, prefix) || !strings.HasSuffix(localpart, suffix) {
		return "", false
	}
	return localpart[len(prefix) : len(localpart)-len(suffix)], true
}

// Warnings lists settings that are valid but probably not meant, for the start-up log: everyone on
// the homeserver (and, over federation, beyond) may use the bridge when "*" is user or admin.
func (cfg *Config) Warnings() []string {
	warnings := append([]string(nil), cfg.upgradeNotes...)
	for _, key := range cfg.unknown {
		warnings = append(warnings, fmt.Sprintf("unknown option %s is ignored (misspelt? example-config.yaml lists every option)", key))
	}
	if level := cfg.Bridge.Permissions["*"]; level == "user" || level == "admin" {
		warnings = append(warnings, fmt.Sprintf(`bridge.permissions."*" is %s: every Matrix user, on any server, may log in to WhatsApp through this bridge and use its %s commands`, level, level))
	}
	return warnings
}
