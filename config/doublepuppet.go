package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"

	"go.mau.fi/util/random"
	"maunium.net/go/mautrix/appservice"
)

// DoublePuppetConfig is bridge.double_puppet: double puppeting through a second appservice
// registration whose non-exclusive user namespace covers the homeserver's own users. With it, what
// a user sends, edits, reacts to, deletes and reads on their phone appears in Matrix as their real
// Matrix account (the homeserver's ?user_id= masquerading with this registration's as_token)
// instead of their "(WA)" ghost.
type DoublePuppetConfig struct {
	// ASToken is the as_token of the double puppeting registration; empty turns double puppeting
	// off, Placeholder ("generate") asks -g to write that registration and store its token here.
	ASToken string `yaml:"as_token"`
}

// Enabled reports whether double puppeting is configured with a token.
func (c DoublePuppetConfig) Enabled() bool { return c.ASToken != "" && c.ASToken != Placeholder }

// Requested reports whether double puppeting is wanted: a token, or Placeholder for -g to make one.
func (c DoublePuppetConfig) Requested() bool { return c.ASToken != "" }

// DoublePuppetRegistrationPath returns where -g writes the double puppeting registration: beside
// the bridge's registration regPath, its name prefixed with "doublepuppet-".
func DoublePuppetRegistrationPath(regPath string) string {
	return filepath.Join(filepath.Dir(regPath), "doublepuppet-"+filepath.Base(regPath))
}

// DoublePuppetRegistration builds the second registration double puppeting needs, with
// bridge.double_puppet.as_token as its as_token: no URL (the homeserver pushes it nothing), a
// fresh hs_token and a random sender localpart (nobody uses either), rate limiting off, and one
// non-exclusive user namespace covering every user of homeserver.domain, so that its token may act
// as any of them while they keep their accounts.
func (cfg *Config) DoublePuppetRegistration() (*appservice.Registration, error) {
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return nil, fmt.Errorf("failed to pick the sender localpart: %w", err)
	}
	rateLimited := false
	reg := &appservice.Registration{
		ID:              cfg.Appservice.ID + "-doublepuppet",
		AppToken:        cfg.Bridge.DoublePuppet.ASToken,
		ServerToken:     random.String(64),
		SenderLocalpart: "doublepuppet_" + hex.EncodeToString(suffix),
		RateLimited:     &rateLimited,
	}
	reg.Namespaces.UserIDs.Register(regexp.MustCompile("^@.*:"+regexp.QuoteMeta(cfg.Homeserver.Domain)+"$"), false)
	return reg, nil
}
