package config_test

import (
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// TestEncryptionConfig: encryption is off by default, and the options that need it are refused
// without encryption.allow.
func TestEncryptionConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Encryption; e.Allow || e.Default || e.Require || e.VerifiedOnly || e.SelfSign || e.SelfSignPassword != "" || e.DefaultOn() {
		t.Errorf("encryption defaults: %+v, want everything off", e)
	}
	if len(cfg.Encryption.EffectivePickleKey()) == 0 {
		t.Error("no pickle key without encryption.pickle_key")
	}
	for _, key := range []string{"encryption.default", "encryption.require", "encryption.self_sign"} {
		_, err := config.Parse(patch(t, key, true))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s without encryption.allow: error %v, want one naming it", key, err)
		}
	}
	_, err = config.Parse(patch(t, "encryption.self_sign_password", "secret"))
	if err == nil || !strings.Contains(err.Error(), "encryption.self_sign_password") {
		t.Errorf("encryption.self_sign_password without encryption.self_sign: error %v, want one naming it", err)
	}
	cfg, err = config.Parse(patch(t, "encryption.allow", true))
	if err != nil || !cfg.Encryption.Allow || cfg.Encryption.DefaultOn() {
		t.Errorf("encryption.allow alone: %v, %+v; want allowed, new rooms unencrypted", err, cfg.Encryption)
	}
}
