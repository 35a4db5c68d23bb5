package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// waitAnnounced waits until the bridge announced the user's push name to WhatsApp on its current
// connection (the simulator stamps the name on the user's messages only from then on).
func waitAnnounced(t testing.TB, ctx context.Context, u *loggedInUser, name string) {
	t.Helper()
	device := companionDevice(t, u.acct)
	waitFor(t, ctx, "the bridge to announce the name "+name, func() bool { return u.acct.AnnouncedName(device) == name })
}

// waitAvailable waits until the bridge announced the user available (or unavailable) on WhatsApp.
func waitAvailable(t testing.TB, ctx context.Context, u *loggedInUser, available bool) {
	t.Helper()
	device := companionDevice(t, u.acct)
	waitFor(t, ctx, "the bridge to announce the user's presence", func() bool { return u.acct.DeviceAvailable(device) == available })
}

// deliveryReceiptOf waits for the delivery receipt of msgID that the user's linked device (the
// bridge, not the phone) sent the contact, and returns its type ("" for an active client,
// "inactive" otherwise).
func deliveryReceiptOf(t testing.TB, ctx context.Context, u *loggedInUser, carol *wasim.Contact, msgID types.MessageID) types.ReceiptType {
	t.Helper()
	device := companionDevice(t, u.acct)
	evt, err := carol.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && len(r.MessageIDs) > 0 && r.MessageIDs[0] == msgID && r.Sender.Device == device &&
			(r.Type == types.ReceiptTypeDelivered || r.Type == types.ReceiptTypeInactive)
	})
	if err != nil {
		t.Fatalf("no delivery receipt from the bridge for %s: %v", msgID, err)
	}
	return evt.(*events.Receipt).Type
}

// TestOwnPresence: the bridge announces the user's push name after connecting (as unavailable), so
// contacts see the name on the user's messages; the user is available on WhatsApp while active in
// Matrix (sending, typing, reading; or online by m.presence) and unavailable after idle_seconds or
// when Matrix says offline; typing passes both ways only while available, and delivery receipts are
// "inactive" (not shown by the phone apps) while unavailable, as on WhatsApp Web in a background tab.
func TestOwnPresence(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.presence.idle_seconds", 10)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300071")
	waitAnnounced(t, ctx, alice, "Alice")
	if alice.acct.DeviceAvailable(companionDevice(t, alice.acct)) {
		t.Fatal("the user is available on WhatsApp right after login, before any activity")
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000071", "Carol")
	if err := carol.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}

	// Inactive: the contact's message is delivered, but as to a background client.
	firstID, err := carol.SendText(ctx, alice.acct.JID(), "are you there?")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "are you there?"))
	if typ := deliveryReceiptOf(t, ctx, alice, carol, firstID); typ != types.ReceiptTypeInactive {
		t.Errorf("delivery receipt while the user is inactive has type %q, want inactive", typ)
	}

	// Active: the user's message carries their name, and they are available.
	sendText(t, ctx, alice.client, dm, "yes, here")
	got := waitWAText(t, ctx, carol, "yes, here")
	if got.Info.PushName != "Alice" {
		t.Errorf("the contact sees the user's message under the name %q, want Alice", got.Info.PushName)
	}
	waitAvailable(t, ctx, alice, true)
	secondID, err := carol.SendText(ctx, alice.acct.JID(), "great")
	if err != nil {
		t.Fatal(err)
	}
	if typ := deliveryReceiptOf(t, ctx, alice, carol, secondID); typ != types.ReceiptTypeDelivered {
		t.Errorf("delivery receipt while the user is active has type %q, want a plain delivery", typ)
	}
	// Typing both ways.
	if err = carol.Client().SendChatPresence(ctx, alice.acct.JID(), types.ChatPresenceComposing, types.ChatPresenceMediaText); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, ctx, alice.client, dm, "the ghost to type", func(evt *event.Event) bool {
		return evt.Type == event.EphemeralEventTyping && len(evt.Content.AsTyping().UserIDs) == 1 && evt.Content.AsTyping().UserIDs[0] == carolGhost
	})
	if _, err = alice.client.UserTyping(ctx, dm, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresenceComposing
	}); err != nil {
		t.Fatalf("the user's typing did not reach WhatsApp: %v", err)
	}
	if _, err = alice.client.UserTyping(ctx, dm, false, 0); err != nil {
		t.Fatal(err)
	}

	// Idle: idle_seconds after the last activity the user is unavailable again, and deliveries
	// are inactive again.
	waitAvailable(t, ctx, alice, false)
	thirdID, err := carol.SendText(ctx, alice.acct.JID(), "gone?")
	if err != nil {
		t.Fatal(err)
	}
	if typ := deliveryReceiptOf(t, ctx, alice, carol, thirdID); typ != types.ReceiptTypeInactive {
		t.Errorf("delivery receipt after the user went idle has type %q, want inactive", typ)
	}

	// The homeserver's presence of the user (pushed as an ephemeral event): online makes them
	// available until it says offline.
	presence := func(txnID string, p event.Presence) {
		t.Helper()
		if err := env.SendTransaction(ctx, txnID, e2e.Transaction{Ephemeral: []*event.Event{{
			Type: event.EphemeralEventPresence, Sender: alice.client.UserID,
			Content: event.Content{Raw: map[string]any{"presence": string(p)}},
		}}}); err != nil {
			t.Fatal(err)
		}
	}
	presence("presence-1", event.PresenceOnline)
	waitAvailable(t, ctx, alice, true)
	presence("presence-2", event.PresenceOffline)
	waitAvailable(t, ctx, alice, false)

	// A reconnect announces the name again (WhatsApp forgets it with the connection).
	device := companionDevice(t, alice.acct)
	if err = env.WA.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the bridge to reconnect", func() bool { return alice.acct.Online(device) })
	waitAnnounced(t, ctx, alice, "Alice")
}

// TestOwnPresenceModes: bridge.presence.own "always" keeps the user available from the connect on;
// "never" keeps them unavailable even while they write, but still announces their name.
func TestOwnPresenceModes(t *testing.T) {
	t.Parallel()
	for i, mode := range []string{"always", "never"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
				e2e.SetConfig(cfg, "bridge.presence.own", mode)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", fmt.Sprintf("49151123001%d1", i))
			waitAnnounced(t, ctx, alice, "Alice")
			if mode == "always" {
				waitAvailable(t, ctx, alice, true)
				return
			}
			carol, carolGhost := newContact(t, ctx, env, fmt.Sprintf("49176000001%d1", i), "Carol")
			if _, err := carol.SendText(ctx, alice.acct.JID(), "hi"); err != nil {
				t.Fatal(err)
			}
			dm := joinPortal(t, ctx, env, alice.client, carolGhost)
			env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "hi"))
			sendText(t, ctx, alice.client, dm, "hello")
			// An announcement of the user's activity would have gone out before the message, on
			// the same connection: once the contact has the message, the server has seen it.
			if got := waitWAText(t, ctx, carol, "hello"); got.Info.PushName != "Alice" {
				t.Errorf("the contact sees the name %q, want Alice", got.Info.PushName)
			}
			if alice.acct.DeviceAvailable(companionDevice(t, alice.acct)) {
				t.Error(`the user is available on WhatsApp under bridge.presence.own "never"`)
			}
		})
	}
}
