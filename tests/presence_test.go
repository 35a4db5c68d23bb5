package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestContactPresenceOnGhost: with bridge.presence.contacts on, a DM contact's WhatsApp presence
// shows on their ghost (online; offline with the last-seen time), also after the bridge's
// connection to WhatsApp was dropped and came back (subscriptions are renewed).
func TestContactPresenceOnGhost(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.presence.contacts", true)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300024")
	carol, carolGhost := newContact(t, ctx, env, "4917600000035", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "hi"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "hi"))

	presenceIs := func(what string, want event.Presence, statusPrefix string) {
		t.Helper()
		waitFor(t, ctx, "Carol's ghost to be "+what, func() bool {
			resp, err := alice.client.GetPresence(ctx, carolGhost)
			return err == nil && resp.Presence == want && strings.HasPrefix(resp.StatusMsg, statusPrefix)
		})
	}
	if err := carol.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}
	presenceIs("online", event.PresenceOnline, "")
	if err := carol.SetAvailable(ctx, false); err != nil {
		t.Fatal(err)
	}
	presenceIs("offline with last seen", event.PresenceOffline, "Last seen ")

	// WhatsApp ends subscriptions with the connection: after a reconnect the bridge subscribes again.
	device := companionDevice(t, alice.acct)
	if err := env.WA.DropConnections(alice.acct.JID().User); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the bridge to reconnect", func() bool { return alice.acct.Online(device) })
	// The reconnect's subscription is answered with the current presence (offline); wait until the
	// server has it before Carol comes back, so the change is not lost between two subscriptions.
	waitFor(t, ctx, "the bridge to subscribe again", func() bool { return carol.Account().PresenceSubscribers() > 0 })
	if err := carol.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}
	presenceIs("online after the reconnect", event.PresenceOnline, "")
}
