package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestBridgeLifecycle checks the environment's bridge half on both databases: the registration is
// known to Dendrite (the as_token identifies the bot), the bridge serves its appservice API, and it
// stops and starts again cleanly.
func TestBridgeLifecycle(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			env := New(t, Options{Database: dialect, Config: func(cfg map[string]any) {
				SetConfig(cfg, "bridge.command_prefix", "!wa")
			}})
			t.Logf("environment ready in %s", time.Since(start).Round(time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if env.DatabaseURI() == "" || env.DatabaseDialect() != dialect {
				t.Fatalf("database is %s %q", env.DatabaseDialect(), env.DatabaseURI())
			}

			checkBot := func() {
				t.Helper()
				whoami, err := env.AppserviceClient(t, env.BotMXID()).Whoami(ctx)
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
			// An empty transaction, twice (a homeserver retry), is accepted.
			for range 2 {
				if err := env.SendTransaction(ctx, "e2e-empty", Transaction{}); err != nil {
					t.Fatal(err)
				}
			}

			start = time.Now()
			env.RestartBridge()
			t.Logf("bridge restarted in %s", time.Since(start).Round(time.Millisecond))
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

			// After a crash (SIGKILL) the bridge starts again on the same database.
			env.KillBridge()
			env.StartBridge()
			checkBot()
		})
	}
}
