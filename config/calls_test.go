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

func TestRequestExpiredMediaConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || !cfg.Bridge.RequestExpiredMediaEnabled() {
		t.Fatalf("example config: expired media requested at once %v (err %v), want on", cfg != nil && cfg.Bridge.RequestExpiredMediaEnabled(), err)
	}
	cfg, err = config.Parse(patch(t, "bridge.request_expired_media", false))
	if err != nil || cfg.Bridge.RequestExpiredMediaEnabled() {
		t.Fatalf("with bridge.request_expired_media false expired media is requested at once %v (err %v), want off", cfg != nil && cfg.Bridge.RequestExpiredMediaEnabled(), err)
	}
}

func TestBridgeMatrixLeaveConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || !cfg.Bridge.BridgeMatrixLeaveEnabled() {
		t.Fatalf("example config: leaving a group's room leaves the group %v (err %v), want on", cfg != nil && cfg.Bridge.BridgeMatrixLeaveEnabled(), err)
	}
	cfg, err = config.Parse(patch(t, "bridge.bridge_matrix_leave", false))
	if err != nil || cfg.Bridge.BridgeMatrixLeaveEnabled() {
		t.Fatalf("with bridge.bridge_matrix_leave false leaving the room leaves the group %v (err %v), want off", cfg != nil && cfg.Bridge.BridgeMatrixLeaveEnabled(), err)
	}
}

func TestDisappearingRedactConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || !cfg.Bridge.DisappearingRedactEnabled() {
		t.Fatalf("example config: disappearing messages redacted %v (err %v), want on", cfg != nil && cfg.Bridge.DisappearingRedactEnabled(), err)
	}
	cfg, err = config.Parse(patch(t, "bridge.disappearing_redact", false))
	if err != nil || cfg.Bridge.DisappearingRedactEnabled() {
		t.Fatalf("with bridge.disappearing_redact false disappearing messages are redacted %v (err %v), want off", cfg != nil && cfg.Bridge.DisappearingRedactEnabled(), err)
	}
}

func TestStatusBroadcastConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(readExample(t))
	if err != nil || cfg.Bridge.StatusBroadcast {
		t.Fatalf("example config: status room %v (err %v), want off", cfg != nil && cfg.Bridge.StatusBroadcast, err)
	}
	cfg, err = config.Parse(patch(t, "bridge.status_broadcast", true))
	if err != nil || !cfg.Bridge.StatusBroadcast {
		t.Fatalf("with bridge.status_broadcast true the status room is %v (err %v), want on", cfg != nil && cfg.Bridge.StatusBroadcast, err)
	}
}
