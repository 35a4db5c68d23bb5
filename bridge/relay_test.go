package bridge

import (
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func TestRelayRefusal(t *testing.T) {
	no := false
	cfg := &config.Config{}
	cfg.Bridge.CommandPrefix = "!wa"
	if why := relayRefusal(cfg, config.LevelAdmin, false, "set-relay"); !strings.Contains(why, "turned off") {
		t.Errorf("relay disabled: %q", why)
	}
	cfg.Bridge.Relay.Enabled = true
	if why := relayRefusal(cfg, config.LevelUser, false, "set-relay"); !strings.Contains(why, "Only bridge admins") {
		t.Errorf("user with admin_only (the default): %q", why)
	}
	if why := relayRefusal(cfg, config.LevelAdmin, false, "set-relay"); why != "" {
		t.Errorf("admin refused: %q", why)
	}
	cfg.Bridge.Relay.AdminOnly = &no
	if why := relayRefusal(cfg, config.LevelUser, false, "set-relay"); why != "" {
		t.Errorf("user without admin_only refused: %q", why)
	}
	if why := relayRefusal(cfg, config.LevelUser, true, "unset-relay"); !strings.Contains(why, "`!wa unset-relay` in the room of a WhatsApp chat") {
		t.Errorf("management room: %q", why)
	}
}
