// Package config loads, validates and saves the bridge's YAML configuration, and generates the
// appservice registration that the homeserver needs.
//
// Every option is documented in example-config.yaml at the repository root. Defaults are applied
// before validation, so a config file only needs the options that differ from them.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole bridge configuration.
type Config struct {
	Homeserver HomeserverConfig `yaml:"homeserver"`
	Appservice AppserviceConfig `yaml:"appservice"`
	Database   DatabaseConfig   `yaml:"database"`
	Bridge     BridgeConfig     `yaml:"bridge"`
	WhatsApp   WhatsAppConfig   `yaml:"whatsapp"`
	Logging    LoggingConfig    `yaml:"logging"`
	Metrics    MetricsConfig    `yaml:"metrics"`
	// Provisioning configures the provisioning HTTP API (provisioning.go).
	Provisioning ProvisioningConfig `yaml:"provisioning"`
	// Encryption configures end-to-bridge encryption (encryption.go).
	Encryption EncryptionConfig `yaml:"encryption"`
	// Version is the config's format version (upgrade.go); older configs are upgraded on start.
	Version int `yaml:"config_version"`

	// FromEnv lists the options set by environment variables (env.go), for the start-up log.
	FromEnv []string `yaml:"-"`
	// unknown lists keys of the file that are no option (misspelt or from another version).
	unknown []string
	// upgradeNotes describe the upgrade LoadAndUpgrade made (upgrade.go).
	upgradeNotes []string
}

// HomeserverConfig says where the Matrix homeserver is.
type HomeserverConfig struct {
	// Address is the URL the bridge uses to reach the homeserver's client-server API.
	Address string `yaml:"address"`
	// Domain is the homeserver's server_name, the part after the colon in user IDs.
	Domain string `yaml:"domain"`
	// BotSync is "auto", "on" or "off": whether the bot runs its own /sync loop to pick up what the
	// homeserver does not push to appservices (redactions, typing, read receipts). "auto" runs it
	// unless the homeserver says it is Synapse, which pushes them (BotSyncEnabled).
	BotSync string `yaml:"bot_sync"`
	// StatusEndpoint is the URL every change of a user's WhatsApp login state is POSTed to as
	// JSON (bridge/bridgestate.go), with the as_token as bearer token. Empty: no push.
	StatusEndpoint string `yaml:"status_endpoint"`
}

// Bot sync modes (HomeserverConfig.BotSync).
const (
	BotSyncAuto = "auto"
	BotSyncOn   = "on"
	BotSyncOff  = "off"
)

// BotConfig describes the bridge bot user.
type BotConfig struct {
	Username    string `yaml:"username"`
	Displayname string `yaml:"displayname"`
	Avatar      string `yaml:"avatar"`
}

// AppserviceConfig describes the appservice HTTP listener and its identity towards the homeserver.
type AppserviceConfig struct {
	// Address is the URL the homeserver uses to reach the bridge.
	Address string `yaml:"address"`
	// Hostname and Port are where the bridge listens.
	Hostname string `yaml:"hostname"`
	Port     int    `yaml:"port"`
	// ID is the appservice ID in the registration.
	ID  string    `yaml:"id"`
	Bot BotConfig `yaml:"bot"`
	// ASToken and HSToken are the shared secrets of the registration; "generate" until -g runs.
	ASToken string `yaml:"as_token"`
	HSToken string `yaml:"hs_token"`
	// MaxBodySize is the largest transaction body the bridge accepts, in bytes.
	MaxBodySize int64 `yaml:"max_body_size"`
}

// DatabaseConfig selects the SQL database that holds all bridge state.
type DatabaseConfig struct {
	// Type is "sqlite" or "postgres".
	Type string `yaml:"type"`
	// URI is a file path for SQLite or a postgres:// URI.
	URI string `yaml:"uri"`
	// MaxOpenConns bounds the connections the bridge opens (default 20).
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns is how many unused connections are kept open for the next queries (default:
	// MaxOpenConns). Fewer make a busy bridge close and reopen connections all the time, each a
	// new PostgreSQL backend process.
	MaxIdleConns int `yaml:"max_idle_conns"`
}

// BridgeConfig holds the behaviour of the bridge itself.
type BridgeConfig struct {
	// UsernameTemplate makes ghost localparts from WhatsApp identifiers; it must contain {{.}} once.
	UsernameTemplate string `yaml:"username_template"`
	// DisplaynameTemplate makes ghost display names from contact info.
	DisplaynameTemplate string `yaml:"displayname_template"`
	// CommandPrefix starts commands outside the management room.
	CommandPrefix string `yaml:"command_prefix"`
	// Permissions maps "*", a domain or a user ID to relay, user or admin.
	Permissions map[string]string `yaml:"permissions"`
	// LoginTimeout is how long a QR or pairing-code login may wait, in seconds.
	LoginTimeout int `yaml:"login_timeout"`
	// MatrixRoomWorkers is how many rooms' Matrix events are handed to WhatsApp at once; events of
	// one room are always handled one at a time, in order.
	MatrixRoomWorkers int `yaml:"matrix_room_workers"`
	// Calls says what the bridge does with WhatsApp calls (calls.go).
	Calls CallConfig `yaml:"calls"`
	// HistorySync limits the backfill of the chat history the phone sends after a link (history.go).
	HistorySync HistorySyncConfig `yaml:"history_sync"`
	// Import limits the import of WhatsApp chat export archives (import.go).
	Import ImportConfig `yaml:"import"`
	// UndecryptableWait is how many seconds the bridge waits for the sender or the phone to resend
	// a message it could not decrypt before it gives up and reports the message as not brought
	// over (0: the default, 900; -1: wait forever). See UndecryptableTimeout.
	UndecryptableWait int `yaml:"undecryptable_wait"`
	// ViewOnce bridges view-once photos, videos and voice messages that reach the bridge, once and
	// with a notice; false shows only a notice. nil means on (see ViewOnceEnabled).
	ViewOnce *bool `yaml:"view_once"`
	// Presence says which WhatsApp presence the bridge follows (presence.go).
	Presence PresenceConfig `yaml:"presence"`
	// Relay is relay mode (relay.go).
	Relay RelayConfig `yaml:"relay"`
	// RequestExpiredMedia makes the bridge ask the user's phone at once to upload again an
	// attachment WhatsApp's servers no longer have; false waits for the user to ask (a reaction or
	// a command on the notice). nil means on (see RequestExpiredMediaEnabled).
	RequestExpiredMedia *bool `yaml:"request_expired_media"`
	// BridgeMatrixLeave makes a bridge user who leaves a group's room leave the WhatsApp group
	// too; false leaves only the room. nil means on (see BridgeMatrixLeaveEnabled).
	BridgeMatrixLeave *bool `yaml:"bridge_matrix_leave"`
	// DisappearingRedact redacts the Matrix copy of a message in a chat with disappearing messages
	// when it disappears from WhatsApp; false keeps the copies. nil means on (see
	// DisappearingRedactEnabled).
	DisappearingRedact *bool `yaml:"disappearing_redact"`
	// StatusBroadcast shows the status updates ("stories") of the user's WhatsApp contacts in a
	// status room of its own, created with the first update. Off by default: with false no status
	// room is created and status updates are dropped. Nothing is ever sent to WhatsApp from it.
	StatusBroadcast bool `yaml:"status_broadcast"`
	// DoublePuppet lets what users do on their phone appear in Matrix as their own Matrix
	// accounts (doublepuppet.go).
	DoublePuppet DoublePuppetConfig `yaml:"double_puppet"`
}

// DefaultUndecryptableWait is bridge.undecryptable_wait's default, in seconds.
const DefaultUndecryptableWait = 900

// UndecryptableTimeout is how long to wait for an undecryptable message to be resent; 0 means
// forever.
func (c BridgeConfig) UndecryptableTimeout() time.Duration {
	switch {
	case c.UndecryptableWait < 0:
		return 0
	case c.UndecryptableWait == 0:
		return DefaultUndecryptableWait * time.Second
	}
	return time.Duration(c.UndecryptableWait) * time.Second
}

// DisappearingRedactEnabled reports whether Matrix copies of disappearing messages are redacted
// when they expire (bridge.disappearing_redact, default true).
func (c BridgeConfig) DisappearingRedactEnabled() bool {
	return c.DisappearingRedact == nil || *c.DisappearingRedact
}

// BridgeMatrixLeaveEnabled reports whether leaving a group's room leaves the WhatsApp group
// (bridge.bridge_matrix_leave, default true).
func (c BridgeConfig) BridgeMatrixLeaveEnabled() bool {
	return c.BridgeMatrixLeave == nil || *c.BridgeMatrixLeave
}

// RequestExpiredMediaEnabled reports whether expired attachments are requested from the phone
// without being asked (bridge.request_expired_media, default true).
func (c BridgeConfig) RequestExpiredMediaEnabled() bool {
	return c.RequestExpiredMedia == nil || *c.RequestExpiredMedia
}

// ViewOnceEnabled reports whether view-once media is bridged (bridge.view_once, default true).
func (c BridgeConfig) ViewOnceEnabled() bool {
	return c.ViewOnce == nil || *c.ViewOnce
}

// WhatsAppConfig configures the WhatsApp connection of every login. The dial and root-key options
// exist to connect to a local simulator; leave them empty for the real WhatsApp.
type WhatsAppConfig struct {
	DeviceName       string `yaml:"device_name"`
	DialAddress      string `yaml:"dial_address"`
	MediaDialAddress string `yaml:"media_dial_address"`
	CAFile           string `yaml:"ca_file"`
	PlainHTTP        bool   `yaml:"plain_http"`
	NoiseRootPubkey  string `yaml:"noise_root_pubkey"`
	// KeepaliveInterval is the seconds between keepalive pings (0: whatsmeow's 20-30 s). Three
	// unanswered pings in a row mark a connection as dead.
	KeepaliveInterval int `yaml:"keepalive_interval"`
	// ResendWindowHours is how long (hours) the messages the bridge sent are kept in the database
	// so that a recipient device that could not decrypt one can still have it resent after a
	// restart (its retry receipt). 0 means 24; -1 keeps them in memory only (whatsmeow's own
	// cache of recent messages, lost on restart). At most 168 (a week, the longest whatsmeow itself keeps them).
	ResendWindowHours int `yaml:"resend_window_hours"`
}

// ResendWindow is how long sent messages are kept for resending, 0 when they are not kept.
func (c WhatsAppConfig) ResendWindow() time.Duration {
	if c.ResendWindowHours < 0 {
		return 0
	}
	return time.Duration(c.ResendWindowHours) * time.Hour
}

// LoggingConfig configures the zerolog logger.
type LoggingConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	File   string `yaml:"file"`
}

// ErrNotFound is returned by Load when the config file does not exist.
var ErrNotFound = errors.New("config file not found")

// Load reads a config file, applies the process' MATRIX_WHATSAPP_* environment overrides
// (env.go) and defaults, and validates the result.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (create one with `cp example-config.yaml %s` and edit the homeserver section)", ErrNotFound, path, path)
	} else if err != nil {
		return nil, fmt.Errorf("failed to read config %s: %w", path, err)
	}
	return ParseWithEnv(data, os.Environ())
}

// Parse decodes YAML config data, applies defaults and validates it.
func Parse(data []byte) (*Config, error) {
	return ParseWithEnv(data, nil)
}

// ParseWithEnv is Parse with the MATRIX_WHATSAPP_* entries of environ ("NAME=value") overriding
// the file's values before defaults and validation.
func ParseWithEnv(data []byte, environ []string) (*Config, error) {
	var cfg Config
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, explainTypeErrors(data, err) // yamlerr.go
	}
	var err error
	if cfg.FromEnv, err = cfg.applyEnv(environ); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	cfg.unknown = unknownKeys(data)
	if err = cfg.Validate(); err != nil {
		if exampleErr := cfg.CheckNotExample(); exampleErr != nil {
			// Name every problem at once: the example's placeholder domain is one of them.
			err = errors.Join(err, exampleErr)
		}
		if len(cfg.unknown) > 0 {
			// A misspelt key often causes the error: name it.
			err = fmt.Errorf("%w\nunknown options (misspelt?): %s", err, strings.Join(cfg.unknown, ", "))
		}
		return nil, err
	}
	return &cfg, nil
}

// unknownKeys lists the dotted paths of keys in the YAML document that no option of Config has
// (map-valued options such as bridge.permissions take any key).
func unknownKeys(data []byte) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	var unknown []string
	var walk func(node *yaml.Node, t reflect.Type, prefix string)
	walk = func(node *yaml.Node, t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if node.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key := node.Content[i].Value
			field, ok := yamlField(t, key)
			if !ok {
				unknown = append(unknown, prefix+key)
				continue
			}
			walk(node.Content[i+1], field.Type, prefix+key+".")
		}
	}
	walk(doc.Content[0], reflect.TypeOf(Config{}), "")
	return unknown
}

// yamlField finds the field of struct type t that YAML key name decodes into (inline fields
// included).
func yamlField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			if inner, ok := yamlField(f.Type, name); ok {
				return inner, true
			}
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func (cfg *Config) applyDefaults() {
	setDefault(&cfg.Appservice.Hostname, "127.0.0.1")
	if cfg.Appservice.Port == 0 {
		cfg.Appservice.Port = 29318
	}
	setDefault(&cfg.Appservice.ID, "whatsapp")
	setDefault(&cfg.Appservice.Bot.Username, "whatsappbot")
	setDefault(&cfg.Appservice.Bot.Displayname, "WhatsApp bridge bot")
	if cfg.Homeserver.BotSync == "" {
		cfg.Homeserver.BotSync = BotSyncAuto
	}
	if cfg.Appservice.MaxBodySize == 0 {
		cfg.Appservice.MaxBodySize = 16 << 20
	}
	setDefault(&cfg.Database.Type, "sqlite")
	setDefault(&cfg.Database.URI, "matrix-whatsapp.db")
	if cfg.Database.MaxOpenConns == 0 {
		cfg.Database.MaxOpenConns = 20
	}
	if cfg.Database.MaxIdleConns == 0 {
		cfg.Database.MaxIdleConns = cfg.Database.MaxOpenConns
	}
	setDefault(&cfg.Bridge.UsernameTemplate, "whatsapp_{{.}}")
	setDefault(&cfg.Bridge.DisplaynameTemplate, "{{or .FullName .FirstName .PushName .BusinessName .Phone}} (WA)")
	setDefault(&cfg.Bridge.CommandPrefix, "!wa")
	if cfg.Bridge.LoginTimeout == 0 {
		cfg.Bridge.LoginTimeout = 180
	}
	if cfg.Bridge.MatrixRoomWorkers == 0 {
		cfg.Bridge.MatrixRoomWorkers = 8
	}
	cfg.Bridge.Presence.applyDefaults() // presence.go
	setDefault(&cfg.WhatsApp.DeviceName, "matrix-whatsapp")
	if cfg.WhatsApp.ResendWindowHours == 0 {
		cfg.WhatsApp.ResendWindowHours = 24
	}
	setDefault(&cfg.Logging.Level, "info")
	setDefault(&cfg.Logging.Format, "pretty")
	cfg.Metrics.applyDefaults() // metrics.go
}

func setDefault(field *string, value string) {
	if *field == "" {
		*field = value
	}
}
