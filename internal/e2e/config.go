package e2e

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// Fixed names of every test environment. Each test has its own homeserver, so they never clash.
const (
	// Domain is the server name of every test homeserver.
	Domain = "e2e.test"
	// AppserviceID is the appservice ID of the bridge in the registration.
	AppserviceID = "whatsapp"
	// BotLocalpart is the localpart of the bridge bot.
	BotLocalpart = "whatsappbot"
	// AdminLocalpart is the user the bridge config grants admin permission; NewUser(t, AdminLocalpart)
	// creates it.
	AdminLocalpart = "admin"
)

// bridgeConfig returns the bridge's config as a generic tree, in the shape matrix-whatsapp reads it:
// homeserver at hsURL, appservice listening on 127.0.0.1:port, the given database, logging to stdout.
func bridgeConfig(hsURL string, port int, dialect testdb.Dialect, dbURI string) map[string]any {
	dbType := "sqlite"
	if dialect == testdb.Postgres {
		dbType = "postgres"
	}
	return map[string]any{
		// The current version: the bridge would otherwise upgrade (and rewrite) the test's config.
		"config_version": config.CurrentVersion,
		"homeserver": map[string]any{
			"address": hsURL,
			"domain":  Domain,
		},
		"appservice": map[string]any{
			"address":  "http://127.0.0.1:" + strconv.Itoa(port),
			"hostname": "127.0.0.1",
			"port":     port,
			"id":       AppserviceID,
			"bot": map[string]any{
				"username":    BotLocalpart,
				"displayname": "WhatsApp bridge bot",
				"avatar":      "",
			},
			"as_token": "generate",
			"hs_token": "generate",
		},
		"database": map[string]any{
			"type":           dbType,
			"uri":            dbURI,
			"max_open_conns": 10,
			"max_idle_conns": 2,
		},
		"bridge": map[string]any{
			"username_template":    "whatsapp_{{.}}",
			"displayname_template": "{{or .FullName .FirstName .PushName .BusinessName .Phone}} (WA)",
			"command_prefix":       "!wa",
			"permissions": map[string]any{
				"*":                                 "relay",
				Domain:                              "user",
				"@" + AdminLocalpart + ":" + Domain: "admin",
			},
		},
		"whatsapp": map[string]any{
			"device_name":        "matrix-whatsapp",
			"dial_address":       "",
			"media_dial_address": "",
			"ca_file":            "",
			"plain_http":         false,
			"noise_root_pubkey":  "",
		},
		"logging": map[string]any{
			"level":  "debug",
			"format": "json",
			"file":   "",
		},
	}
}

// SetConfig sets the value at a dot-separated path such as "whatsapp.dial_address" in a config tree,
// creating maps on the way. Keys that contain dots themselves (like "@admin:e2e.test") must be set
// through the maps directly.
func SetConfig(cfg map[string]any, path string, value any) {
	keys := strings.Split(path, ".")
	node := cfg
	for _, key := range keys[:len(keys)-1] {
		child, ok := node[key].(map[string]any)
		if !ok {
			child = map[string]any{}
			node[key] = child
		}
		node = child
	}
	node[keys[len(keys)-1]] = value
}

// GetConfig returns the value at a dot-separated path in a config tree, or nil when it is absent.
func GetConfig(cfg map[string]any, path string) any {
	var node any = cfg
	for _, key := range strings.Split(path, ".") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[key]
	}
	return node
}

// configString returns the string at path, or an error naming the path when it is missing.
func configString(cfg map[string]any, path string) (string, error) {
	s, ok := GetConfig(cfg, path).(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s is missing", path)
	}
	return s, nil
}
