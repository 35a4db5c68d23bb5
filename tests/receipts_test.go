package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// waitEphemeral syncs as client until an ephemeral event of roomID matches.
func waitEphemeral(t testing.TB, ctx context.Context, client *mautrix.Client, roomID id.RoomID, what string, match func(*event.Event) bool) {
	t.Helper()
	since := ""
	for {
		resp, err := client.SyncRequest(ctx, 5000, since, "", false, "")
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			continue
		}
		since = resp.NextBatch
		if room, ok := resp.Rooms.Join[roomID]; ok {
			for _, evt := range room.Ephemeral.Events {
				_ = evt.Content.ParseRaw(evt.Type)
				if match(evt) {
					return
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// receiptScene is the start of the receipt tests: a logged-in user and a DM in which the contact
// asked to be read.
type receiptScene struct {
	env        *waEnv
	ctx        context.Context
	alice      *loggedInUser
	carol      *wasim.Contact
	carolGhost id.UserID
	dm         id.RoomID
	// carolMsgID and fromCarol are the contact's message, on WhatsApp and in Matrix.
	carolMsgID types.MessageID
	fromCarol  *event.Event
}

func newReceiptScene(t *testing.T, phone, contactPhone string) *receiptScene {
	t.Helper()
	sc := &receiptScene{env: newWAEnv(t, testdb.SQLite, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	sc.ctx = ctx
	sc.alice = newLoggedInUser(t, ctx, sc.env, "alice", phone)
	// WhatsApp passes typing only between available clients: the contact has WhatsApp open, and
	// the bridge, once it knows the user's name, announces the user available while they are
	// active in Matrix.
	waitAnnounced(t, ctx, sc.alice, "Alice")
	sc.carol, sc.carolGhost = newContact(t, ctx, sc.env, contactPhone, "Carol")
	if err := sc.carol.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}
	var err error
	if sc.carolMsgID, err = sc.carol.SendText(ctx, sc.alice.acct.JID(), "please read"); err != nil {
		t.Fatal(err)
	}
	sc.dm = joinPortal(t, ctx, sc.env, sc.alice.client, sc.carolGhost)
	sc.fromCarol = sc.env.WaitForMessage(ctx, sc.alice.client, sc.dm, fromGhost(sc.carolGhost, "please read"))
	return sc
}

// waitWAReadAndTyping waits until the contact got the user's read receipt for msgID and a
// "composing" chat state.
func waitWAReadAndTyping(t *testing.T, ctx context.Context, carol *wasim.Contact, msgID types.MessageID) {
	t.Helper()
	if _, err := carol.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && len(r.MessageIDs) > 0 && r.MessageIDs[0] == msgID
	}); err != nil {
		t.Fatalf("read receipt did not reach WhatsApp: %v", err)
	}
	if _, err := carol.WaitEvent(ctx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresenceComposing
	}); err != nil {
		t.Fatalf("typing did not reach WhatsApp: %v", err)
	}
}

// TestReceiptsAndTyping: read receipts and typing notifications go both ways. Dendrite does not push
// ephemeral events to appservices: the Matrix->WhatsApp half reaches the bridge through the bot's
// own sync (homeserver.bot_sync: auto).
func TestReceiptsAndTyping(t *testing.T) {
	t.Parallel()
	sc := newReceiptScene(t, "4915112345678", "4917600000002")
	ctx, alice, carol, carolGhost, dm := sc.ctx, sc.alice, sc.carol, sc.carolGhost, sc.dm
	carolMsgID, fromCarol := sc.carolMsgID, sc.fromCarol
	mine, err := alice.client.SendText(ctx, dm, "read this too")
	if err != nil {
		t.Fatal(err)
	}
	got := waitWAText(t, ctx, carol, "read this too")
	// Sending was activity: the user is available now.
	waitAvailable(t, ctx, alice, true)

	// WhatsApp -> Matrix: the contact types and reads.
	if err = carol.Client().SendChatPresence(ctx, alice.acct.JID(), types.ChatPresenceComposing, types.ChatPresenceMediaText); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, ctx, alice.client, dm, "the ghost to type", func(evt *event.Event) bool {
		if evt.Type != event.EphemeralEventTyping {
			return false
		}
		for _, userID := range evt.Content.AsTyping().UserIDs {
			if userID == carolGhost {
				return true
			}
		}
		return false
	})
	if err = carol.Client().MarkRead(ctx, []types.MessageID{got.Info.ID}, time.Now(), alice.acct.JID(), types.EmptyJID); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, ctx, alice.client, dm, "the ghost's read receipt", func(evt *event.Event) bool {
		if evt.Type != event.EphemeralEventReceipt {
			return false
		}
		_, ok := (*evt.Content.AsReceipt())[mine.EventID][event.ReceiptTypeRead][carolGhost]
		return ok
	})

	// Matrix -> WhatsApp: the user reads and types in their client; Dendrite does not push these
	// to appservices, the bot's own sync reads them.
	if err = alice.client.MarkRead(ctx, dm, fromCarol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.UserTyping(ctx, dm, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	waitWAReadAndTyping(t, ctx, carol, carolMsgID)
	if _, err = alice.client.UserTyping(ctx, dm, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresencePaused
	}); err != nil {
		t.Fatalf("stopping typing did not reach WhatsApp: %v", err)
	}
}

// TestEphemeralAndRedactionTransactions: a homeserver that pushes ephemeral events (MSC2409) and
// redactions in transactions reaches the same paths as the bot's sync, a redaction that comes
// both ways (pushed and synced) is bridged once, and one made while the bridge was down is bridged
// after it starts again.
func TestEphemeralAndRedactionTransactions(t *testing.T) {
	t.Parallel()
	sc := newReceiptScene(t, "4915112345679", "4917600000003")
	env, ctx, alice, carol, dm := sc.env, sc.ctx, sc.alice, sc.carol, sc.dm
	carolMsgID, fromCarol := sc.carolMsgID, sc.fromCarol

	err := env.SendTransaction(ctx, "ephemeral-1", e2e.Transaction{Ephemeral: []*event.Event{{
		Type: event.EphemeralEventReceipt, RoomID: dm,
		Content: event.Content{Raw: map[string]any{fromCarol.ID.String(): map[string]any{
			"m.read": map[string]any{alice.client.UserID.String(): map[string]any{"ts": time.Now().UnixMilli()}},
		}}},
	}, {
		Type: event.EphemeralEventTyping, RoomID: dm,
		Content: event.Content{Raw: map[string]any{"user_ids": []string{alice.client.UserID.String()}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	waitWAReadAndTyping(t, ctx, carol, carolMsgID)

	// A deletion pushed by transaction as well as read by the bot's sync is sent to WhatsApp once.
	mine, err := alice.client.SendText(ctx, dm, "delete me")
	if err != nil {
		t.Fatal(err)
	}
	sent := waitWAText(t, ctx, carol, "delete me")
	redaction, err := alice.client.RedactEvent(ctx, dm, mine.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if err = env.SendTransaction(ctx, "redaction-1", e2e.Transaction{Events: []*event.Event{{
		ID: redaction.EventID, RoomID: dm, Sender: alice.client.UserID, Type: event.EventRedaction,
		Redacts: mine.EventID, Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Raw: map[string]any{"redacts": mine.EventID.String()}},
	}}}); err != nil {
		t.Fatal(err)
	}
	isRevoke := func(evt any) bool {
		m, ok := evt.(*events.Message)
		if !ok {
			return false
		}
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == sent.Info.ID
	}
	if _, err = carol.WaitEvent(ctx, isRevoke); err != nil {
		t.Fatalf("deletion did not reach WhatsApp: %v", err)
	}
	// Let the other copy (sync or transaction, whichever came second) be handled too, then count:
	// a later message arriving proves the inbox moved past both.
	if _, err = alice.client.SendText(ctx, dm, "after the deletion"); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "after the deletion")
	if n := carol.Count(isRevoke); n != 1 {
		t.Fatalf("WhatsApp got the deletion %d times, want once", n)
	}

	// A deletion made while the bridge is down reaches WhatsApp once it is back: the bot's sync
	// resumes from the position it stored.
	doomed, err := alice.client.SendText(ctx, dm, "delete me while the bridge is down")
	if err != nil {
		t.Fatal(err)
	}
	doomedWA := waitWAText(t, ctx, carol, "delete me while the bridge is down")
	env.StopBridge()
	if _, err = alice.client.RedactEvent(ctx, dm, doomed.EventID); err != nil {
		t.Fatal(err)
	}
	env.StartBridge()
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		m, ok := evt.(*events.Message)
		return ok && m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_REVOKE &&
			m.Message.GetProtocolMessage().GetKey().GetID() == doomedWA.Info.ID
	}); err != nil {
		t.Fatalf("deletion made while the bridge was down did not reach WhatsApp: %v", err)
	}
}
