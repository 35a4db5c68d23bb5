package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// TestDisappearingMessagesRedacted: a message that disappears from WhatsApp a few seconds after it
// was sent (its context info carries the timer, as WhatsApp's apps mark messages in a chat with
// disappearing messages) is redacted in Matrix at that time, with its edit; a message without a
// timer stays.
func TestDisappearingMessagesRedacted(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340141")
	dave, daveGhost := newContact(t, ctx, env, "4917600000141", "Dave")

	if _, err := dave.SendText(ctx, alice.acct.JID(), "This one stays"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, daveGhost)
	stays := env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "This one stays"))

	const timer = 6 * time.Second
	id, err := dave.Send(ctx, alice.acct.JID(), msgconv.WithExpiration(&waE2E.Message{Conversation: proto.String("Gone soon")}, timer))
	if err != nil {
		t.Fatal(err)
	}
	sentAt := time.Now()
	gone := env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "Gone soon"))
	if _, err = dave.Send(ctx, alice.acct.JID(), dave.Client().BuildEdit(alice.acct.JID(), id,
		msgconv.WithExpiration(&waE2E.Message{Conversation: proto.String("Gone soon, edited")}, timer))); err != nil {
		t.Fatal(err)
	}
	edit := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == daveGhost && c.RelatesTo.GetReplaceID() == gone.ID && c.NewContent != nil
	})
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(gone.ID))
	if elapsed := time.Since(sentAt); elapsed < timer-time.Second {
		t.Errorf("the message was redacted %s after it was sent, before its %s timer ran out", elapsed, timer)
	}
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(edit.ID))
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if evt.ID == stays.ID && evt.Unsigned.RedactedBecause != nil {
			t.Fatal("the message without a timer was redacted too")
		}
	}
}
