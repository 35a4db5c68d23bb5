package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// placeholderPrefix starts the notice the bridge shows for a message it could not decrypt yet.
const placeholderPrefix = "Waiting for this message."

func isPlaceholder(ghost id.UserID) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		msg := evt.Content.AsMessage()
		return evt.Sender == ghost && evt.Type == event.EventMessage && msg.MsgType == event.MsgNotice &&
			msg.RelatesTo.GetReplaceID() == "" && len(msg.Body) >= len(placeholderPrefix) && msg.Body[:len(placeholderPrefix)] == placeholderPrefix
	}
}

// textsIn counts, in the room's timeline, the edits of target whose new text is body and the plain
// (non-edit) messages with that body.
func textsIn(t *testing.T, ctx context.Context, user *loggedInUser, room id.RoomID, target id.EventID, body string) (edits, plain int) {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, user.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if evt.Type != event.EventMessage {
			continue
		}
		msg := evt.Content.AsMessage()
		switch {
		case msg.RelatesTo.GetReplaceID() == target && msg.NewContent != nil && msg.NewContent.Body == body:
			edits++
		case msg.RelatesTo.GetReplaceID() == "" && msg.Body == body:
			plain++
		}
	}
	return edits, plain
}

// settle waits until the phone has dealt with a resend request for msgID and the bridge's device
// has acknowledged everything the server had for it (the bridge acknowledges a message only after
// handling it).
func settle(t *testing.T, ctx context.Context, user *loggedInUser, msgID types.MessageID) {
	t.Helper()
	_, err := user.acct.Phone().WaitEvent(ctx, func(evt any) bool {
		answer, ok := evt.(*wasim.ResendAnswer)
		return ok && (len(answer.Found) == 0 || answer.Found[0] == msgID)
	})
	if err != nil {
		t.Fatalf("the phone was never asked to resend %s: %v", msgID, err)
	}
	device := companionDevice(t, user.acct)
	waitFor(t, ctx, "the bridge to acknowledge everything", func() bool { return user.acct.QueueLength(device) == 0 })
}

// TestUndecryptableMessages: a message the bridge cannot decrypt shows a placeholder at once, which
// the resent message replaces (an edit) exactly once, whether the phone resends it (unavailable
// message) or the sender and the phone both do (corrupted ciphertext). When nobody can resend it,
// the placeholder stays and later messages still flow.
func TestUndecryptableMessages(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340001")
	carol, carolGhost := newContact(t, ctx, env, "4917600000011", "Carol")

	// Alice writes from her phone first: the phone's message gives the bridge's device the Signal
	// session it asks the phone over (a real phone shares its app state key right after linking).
	if _, err := alice.acct.Phone().SendText(ctx, carol.JID(), "Hi Carol"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	if _, err := carol.SendText(ctx, alice.acct.JID(), "Hi Alice"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Hi Alice"))

	cases := []struct {
		name  string
		fault wasim.Undecryptable
	}{
		{"unavailable, resent by the phone", wasim.Undecryptable{Kind: wasim.Unavailable}},
		{"corrupted, resent by the sender and the phone", wasim.Undecryptable{Kind: wasim.Corrupted}},
	}
	seen := map[id.EventID]bool{} // placeholders of earlier rounds
	for _, tc := range cases {
		text := "Secret: " + tc.name
		if err := alice.acct.BreakNextMessage(carol.JID(), tc.fault); err != nil {
			t.Fatal(err)
		}
		msgID, err := carol.SendText(ctx, alice.acct.JID(), text)
		if err != nil {
			t.Fatal(err)
		}
		placeholder := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
			return isPlaceholder(carolGhost)(evt) && !seen[evt.ID]
		})
		env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
			msg := evt.Content.AsMessage()
			return msg.RelatesTo.GetReplaceID() == placeholder.ID && msg.NewContent != nil && msg.NewContent.Body == text
		})
		settle(t, ctx, alice, msgID)
		if tc.fault.Kind == wasim.Corrupted {
			if _, err = carol.WaitEvent(ctx, func(evt any) bool {
				r, ok := evt.(*events.Receipt)
				return ok && r.Type == types.ReceiptTypeRetry && r.MessageIDs[0] == msgID
			}); err != nil {
				t.Fatalf("%s: the sender was never asked to resend: %v", tc.name, err)
			}
		}
		after := "After: " + tc.name
		if _, err = carol.SendText(ctx, alice.acct.JID(), after); err != nil {
			t.Fatal(err)
		}
		env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, after))
		if edits, plain := textsIn(t, ctx, alice, dm, placeholder.ID, text); edits != 1 || plain != 0 {
			t.Errorf("%s: %d edits and %d new messages with the text, want one edit of the placeholder", tc.name, edits, plain)
		}
		seen[placeholder.ID] = true
	}

	// Nobody can resend: the sender stays offline and the phone could not decrypt it either.
	if err := alice.acct.BreakNextMessage(carol.JID(), wasim.Undecryptable{Kind: wasim.Corrupted, Phone: true, SenderOffline: true}); err != nil {
		t.Fatal(err)
	}
	lostID, err := carol.SendText(ctx, alice.acct.JID(), "Lost for good")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, ctx, alice, lostID)
	if _, err = carol.SendText(ctx, alice.acct.JID(), "Still here"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Still here"))
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 500)
	if err != nil {
		t.Fatal(err)
	}
	placeholders, lost := 0, 0
	for _, evt := range timeline {
		if isPlaceholder(carolGhost)(evt) {
			placeholders++
		}
		if evt.Type == event.EventMessage && (evt.Content.AsMessage().Body == "Lost for good" ||
			evt.Content.AsMessage().NewContent != nil && evt.Content.AsMessage().NewContent.Body == "Lost for good") {
			lost++
		}
	}
	if placeholders != 3 || lost != 0 {
		t.Errorf("%d placeholders (want 3: two replaced by edits, one waiting) and %d copies of the lost message", placeholders, lost)
	}

	// In a group the phone's resend names the group member who wrote it.
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Resend group", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	groupRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, dm)
	if _, err = carol.SendText(ctx, group, "Group hello"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, groupRoom, fromGhost(carolGhost, "Group hello"))
	if err = alice.acct.BreakNextMessage(carol.JID(), wasim.Undecryptable{Kind: wasim.Unavailable}); err != nil {
		t.Fatal(err)
	}
	groupID, err := carol.SendText(ctx, group, "Group secret")
	if err != nil {
		t.Fatal(err)
	}
	groupPlaceholder := env.WaitForMessage(ctx, alice.client, groupRoom, isPlaceholder(carolGhost))
	env.WaitForMessage(ctx, alice.client, groupRoom, func(evt *event.Event) bool {
		msg := evt.Content.AsMessage()
		return evt.Sender == carolGhost && msg.RelatesTo.GetReplaceID() == groupPlaceholder.ID && msg.NewContent != nil && msg.NewContent.Body == "Group secret"
	})
	settle(t, ctx, alice, groupID)
	if edits, plain := textsIn(t, ctx, alice, groupRoom, groupPlaceholder.ID, "Group secret"); edits != 1 || plain != 0 {
		t.Errorf("group: %d edits and %d new messages with the text, want one edit of the placeholder", edits, plain)
	}
}
