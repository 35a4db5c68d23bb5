package e2e

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"matrix-whatsapp/internal/testdb"
)

// TestBridgeLifecycle checks the environment's bridge half on both databases: the registration is
// known to Dendrite (the as_token identifies the bot), the bridge serves its appservice API, and it
// stops and starts again cleanly.
func TestBridgeLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := New(t, Options{Database: dialect, Config: func(cfg map[string]any) {
				SetConfig(cfg, "bridge.command_prefix", "!wa")
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if env.DatabaseURI() == "" || env.DatabaseDialect() != dialect {
				t.Fatalf("database is %s %q", env.DatabaseDialect(), env.DatabaseURI())
			}

			checkBot := func() {
				t.Helper()
				as, err := mautrix.NewClient(env.HomeserverURL(), "", env.ASToken())
				if err != nil {
					t.Fatal(err)
				}
				whoami, err := as.Whoami(ctx)
				if err != nil {
					t.Fatalf("whoami with the as_token failed: %v", err)
				}
				if whoami.UserID != env.BotMXID() {
					t.Fatalf("as_token belongs to %s, want the bot %s", whoami.UserID, env.BotMXID())
				}
				if status := httpStatus(ctx, env.BridgeURL()+"/_matrix/mau/live"); status == 0 {
					t.Fatalf("bridge does not answer on %s", env.BridgeURL())
				}
			}
			checkBot()

			env.RestartBridge()
			checkBot()

			env.UpdateBridgeConfig(func(cfg map[string]any) {
				SetConfig(cfg, "logging.level", "info")
			})
			env.StopBridge()
			if status := httpStatus(ctx, env.BridgeURL()+"/_matrix/mau/ready"); status != 0 {
				t.Fatalf("stopped bridge still answers %d", status)
			}
			env.StartBridge()
			checkBot()
		})
	}
}
