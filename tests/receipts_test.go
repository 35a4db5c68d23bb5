package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
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

// TestReceiptsAndTyping: read receipts and typing notifications go both ways. Dendrite does not push
// ephemeral events to appservices, so the Matrix->WhatsApp half posts them to the bridge exactly as a
// homeserver would (MSC2409 field included).
func TestReceiptsAndTyping(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	carolMsgID, err := carol.SendText(ctx, alice.acct.JID(), "please read")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	fromCarol := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "please read"))
	mine, err := alice.client.SendText(ctx, dm, "read this too")
	if err != nil {
		t.Fatal(err)
	}
	got := waitWAText(t, ctx, carol, "read this too")

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

	// Matrix -> WhatsApp: the user reads and types.
	err = env.SendTransaction(ctx, "ephemeral-1", e2e.Transaction{Ephemeral: []*event.Event{{
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
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && len(r.MessageIDs) > 0 && r.MessageIDs[0] == carolMsgID
	}); err != nil {
		t.Fatalf("read receipt did not reach WhatsApp: %v", err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresenceComposing
	}); err != nil {
		t.Fatalf("typing did not reach WhatsApp: %v", err)
	}
	err = env.SendTransaction(ctx, "ephemeral-2", e2e.Transaction{Ephemeral: []*event.Event{{
		Type: event.EphemeralEventTyping, RoomID: dm, Content: event.Content{Raw: map[string]any{"user_ids": []string{}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresencePaused
	}); err != nil {
		t.Fatalf("stopping typing did not reach WhatsApp: %v", err)
	}
}
