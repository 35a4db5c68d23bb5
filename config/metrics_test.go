package config_test

import (
	"strings"
	"testing"

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
