package bridge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestHomeserverConnectionsReused: ten portals sending at once, twenty messages each, open about one
// connection to the homeserver per portal, not one per message. (With Go's default transport,
// which keeps two idle connections per host, about every third request opened and closed a
// connection of its own: a TCP set-up per message for the bridge and the homeserver.) The bound
// is twice the portals: Go's transport dials when no connection is idle and keeps the new one
// even when a busy one came back first.
func TestHomeserverConnectionsReused(t *testing.T) {
	t.Parallel()
	var opened, requests atomic.Int64
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"event_id": "$sent"}`))
	}))
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)

	uri := testdb.NewSQLite(t)
	cfg := testConfig(t, "sqlite", uri)
	cfg.Homeserver.Address = hs.URL
	br, err := New(cfg, openTestDB(t, testdb.SQLite, uri), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const portals, messages = 10, 20
	var wg sync.WaitGroup
	for p := range portals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ghost := br.AS.Client(id.UserID(fmt.Sprintf("@whatsapp_49151000000%02d:test.local", p)))
			for range messages {
				if _, err := ghost.SendText(context.Background(), "!portal:test.local", "hello"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if requests.Load() < portals*messages {
		t.Fatalf("the homeserver got %d requests, want at least %d", requests.Load(), portals*messages)
	}
	if n := opened.Load(); n > 2*portals {
		t.Errorf("%d messages from %d portals at once opened %d connections to the homeserver, want at most %d",
			portals*messages, portals, n, 2*portals)
	}
}
