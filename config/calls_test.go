package config_test

import (
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func TestCallOptions(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Bridge.Calls.NoticesEnabled() || cfg.Bridge.Calls.AutoReply != "" {
		t.Fatalf("example config: call notices %v, auto reply %q; want on and off", cfg.Bridge.Calls.NoticesEnabled(), cfg.Bridge.Calls.AutoReply)
	}
	cfg, err = config.Parse(patch(t, "bridge.calls", map[string]any{}))
	if err != nil || !cfg.Bridge.Calls.NoticesEnabled() {
		t.Fatalf("without bridge.calls.notices the notices are %v (err %v), want on", cfg != nil && cfg.Bridge.Calls.NoticesEnabled(), err)
	}
	cfg, err = config.Parse(patch(t, "bridge.calls", map[string]any{"notices": false, "auto_reply": "Please write"}))
	if err != nil || cfg.Bridge.Calls.NoticesEnabled() || cfg.Bridge.Calls.AutoReply != "Please write" {
		t.Fatalf("notices false and an auto reply were not taken: %+v, %v", cfg, err)
	}
	_, err = config.Parse(patch(t, "bridge.calls", map[string]any{"auto_reply": strings.Repeat("x", 1001)}))
	if err == nil || !strings.Contains(err.Error(), "bridge.calls.auto_reply: must be at most 1000 characters") {
		t.Fatalf("a 1001-character auto reply gave %v", err)
	}
}

func TestViewOnceConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || !cfg.Bridge.ViewOnceEnabled() {
		t.Fatalf("example config: view-once media shown %v (err %v), want on", cfg != nil && cfg.Bridge.ViewOnceEnabled(), err)
	}
	cfg, err = config.Parse(patch(t, "bridge.view_once", false))
	if err != nil || cfg.Bridge.ViewOnceEnabled() {
		t.Fatalf("with bridge.view_once false the media is shown %v (err %v), want off", cfg != nil && cfg.Bridge.ViewOnceEnabled(), err)
	}
}
