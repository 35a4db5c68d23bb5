package config

import "strings"

// ProvisioningPrefix is where the provisioning API is served on the appservice port; the version
// is part of the path so that a later incompatible API can live beside it.
const ProvisioningPrefix = "/_matrix/provision/v1"

// exampleProvisioningSecret is the placeholder in example-config.yaml; the bridge refuses to run
// the API with it, as with an empty secret.
const exampleProvisioningSecret = "change-me-to-a-long-random-secret"

// minProvisioningSecret is the shortest shared secret accepted, in bytes.
const minProvisioningSecret = 16

// ProvisioningConfig configures the provisioning HTTP API: integration managers and web UIs log
// users in and open chats through it instead of bot commands.
type ProvisioningConfig struct {
	// Enabled serves the API under ProvisioningPrefix on the appservice port; off by default.
	Enabled bool `yaml:"enabled"`
	// SharedSecret authenticates every request (Authorization: Bearer <secret>). Required when
	// Enabled; never the example value.
	SharedSecret string `yaml:"shared_secret"`
}

// validate reports bad provisioning options through bad, like Config.Validate. The secret itself
// never appears in the message.
func (p ProvisioningConfig) validate(bad func(key, format string, args ...any)) {
	if !p.Enabled {
		return
	}
	secret := strings.TrimSpace(p.SharedSecret)
	switch {
	case secret == "":
		bad("provisioning.shared_secret", "must be set when provisioning.enabled is true (e.g. the output of `openssl rand -hex 32`)")
	case secret == exampleProvisioningSecret || strings.EqualFold(secret, "generate"):
		bad("provisioning.shared_secret", "is still the example value: set a long random secret of your own")
	case len(secret) < minProvisioningSecret:
		bad("provisioning.shared_secret", "must be at least %d characters long", minProvisioningSecret)
	}
}
