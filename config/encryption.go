package config

// defaultPickleKey encrypts the bridge device's Olm account and sessions in the database when
// encryption.pickle_key is empty. The keys live in the same database as everything else, so the
// pickle key only guards against a copy of the crypto tables alone.
const defaultPickleKey = "matrix-whatsapp end-to-bridge encryption"

// EncryptionConfig configures end-to-bridge encryption: the bridge bot gets its own device, decrypts
// what Matrix users send in encrypted portals and encrypts what the ghosts send there. It needs a
// binary built with the goolm build tag (the Makefile and Dockerfile build one).
type EncryptionConfig struct {
	// Allow turns encryption support on: the bot's device is created and keys uploaded, and a user
	// may enable encryption in an existing portal (m.room.encryption), after which the bridge
	// encrypts there. Off by default.
	Allow bool `yaml:"allow"`
	// Default creates new portals with encryption enabled. Needs Allow.
	Default bool `yaml:"default"`
	// Require refuses to bridge unencrypted messages from Matrix in portals (the sender gets a
	// notice) and creates every new portal encrypted. Needs Allow.
	Require bool `yaml:"require"`
	// VerifiedOnly shares room keys (with new sessions and in answer to key requests) only with
	// devices that are verified through cross-signing; otherwise with every device that is not
	// blacklisted.
	VerifiedOnly bool `yaml:"verified_only"`
	// SelfSign creates cross-signing keys for the bot and signs its device with them, so clients
	// show the bridge device as trusted by its owner. Uploading the keys needs either a homeserver
	// that lets an appservice user do it without a password the first time (Synapse, MSC3967) or
	// SelfSignPassword.
	SelfSign bool `yaml:"self_sign"`
	// SelfSignPassword is the bot account's password, given to it by the homeserver's admin, for
	// the password authentication some homeservers demand before the cross-signing keys are
	// uploaded (Dendrite v0.13.8 always does). Empty: the upload is tried without.
	SelfSignPassword string `yaml:"self_sign_password"`
	// PickleKey encrypts the device's keys in the database; empty uses a built-in default. It must
	// not change once the device exists.
	PickleKey string `yaml:"pickle_key"`
}

// EffectivePickleKey returns the configured pickle key or the built-in default.
func (e EncryptionConfig) EffectivePickleKey() []byte {
	if e.PickleKey != "" {
		return []byte(e.PickleKey)
	}
	return []byte(defaultPickleKey)
}

// DefaultOn reports whether new portals are created encrypted.
func (e EncryptionConfig) DefaultOn() bool {
	return e.Allow && (e.Default || e.Require)
}

// validate reports contradicting encryption options through bad, like Config.Validate.
func (e EncryptionConfig) validate(bad func(key, format string, args ...any)) {
	if e.SelfSignPassword != "" && !e.SelfSign {
		bad("encryption.self_sign_password", "needs encryption.self_sign: true")
	}
	if e.Allow {
		return
	}
	if e.Default {
		bad("encryption.default", "needs encryption.allow: true")
	}
	if e.Require {
		bad("encryption.require", "needs encryption.allow: true")
	}
	if e.SelfSign {
		bad("encryption.self_sign", "needs encryption.allow: true")
	}
}
