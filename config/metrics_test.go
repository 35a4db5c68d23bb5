package config_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func TestMetricsConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Enabled || cfg.Metrics.Listen != "127.0.0.1:8001" {
		t.Errorf("metrics defaults: %+v, want off on 127.0.0.1:8001", cfg.Metrics)
	}
	cfg, err = config.Parse(patch(t, "metrics.listen", ""))
	if err != nil || cfg.Metrics.Listen != "127.0.0.1:8001" {
		t.Errorf("empty metrics.listen: %v, %q; want the default", err, cfg.Metrics.Listen)
	}
	for _, bad := range []string{"8001", "localhost:http", "127.0.0.1:70000"} {
		_, err := config.Parse(patch(t, "metrics.listen", bad))
		if err == nil || !strings.Contains(err.Error(), "metrics.listen") {
			t.Errorf("metrics.listen %q: error %v, want one naming metrics.listen", bad, err)
		}
	}
}

// TestProvisioningSecret: the API cannot be enabled with an empty, example or short secret, and
// the error never shows the secret.
func TestProvisioningSecret(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || cfg.Provisioning.Enabled {
		t.Fatalf("example config: %v, provisioning enabled %v; want it off", err, cfg.Provisioning.Enabled)
	}
	withSecret := func(secret string) error {
		var doc map[string]any
		if err := yaml.Unmarshal(readExample(t), &doc); err != nil {
			t.Fatal(err)
		}
		doc["provisioning"] = map[string]any{"enabled": true, "shared_secret": secret}
		data, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Parse(data)
		return err
	}
	for _, bad := range []string{"", "generate", "change-me-to-a-long-random-secret", "short-s3cret"} {
		err := withSecret(bad)
		if err == nil || !strings.Contains(err.Error(), "provisioning.shared_secret") {
			t.Errorf("secret %q: error %v, want one naming provisioning.shared_secret", bad, err)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("secret %q: error %q shows the secret", bad, err)
		}
	}
	if err := withSecret("a-long-random-secret-0123456789"); err != nil {
		t.Errorf("good secret refused: %v", err)
	}
}
