//go:build goolm

package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestDoublePuppetingEncrypted covers double puppeting in an encrypted portal: a message and an
// edit made on the phone appear as the user's real account, encrypted (the homeserver stores them
// as m.room.encrypted), and the user's js-sdk client (Rust crypto, as Element) decrypts them; a
// reaction from the phone appears as the user too. Nothing of it is bridged back to WhatsApp, the
// bridge reports no decryption failure for its own events, and what the user sends from Matrix
// still reaches WhatsApp.
func TestDoublePuppetingEncrypted(t *testing.T) {
	t.Parallel()
	env := newWAEnvWith(t, e2e.Options{Database: testdb.Postgres, DoublePuppet: true}, encryptionConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350031")
	me := alice.client.UserID
	phone := alice.acct.Phone()
	device := companionDevice(t, alice.acct)
	js := env.NewJSClient(t, me, "alice's browser")
	carol, carolGhost := newContact(t, ctx, env, "4917600000231", "Carol")

	hiID, err := carol.SendText(ctx, alice.acct.JID(), "Hi Alice")
	if err != nil {
		t.Fatal(err)
	}
	dm := env.WaitForInvite(ctx, alice.client, carolGhost)
	if err = js.Join(ctx, dm); err != nil {
		t.Fatal(err)
	}
	hi := js.WaitFor(ctx, dm, jsDecrypted(carolGhost.String(), "Hi Alice"))

	// A message from the phone: the user's real account, encrypted.
	phoneID, err := phone.SendText(ctx, carol.JID(), "from my phone, encrypted")
	if err != nil {
		t.Fatal(err)
	}
	mine := js.WaitFor(ctx, dm, jsDecrypted(me.String(), "from my phone, encrypted"))
	if typ := serverType(t, ctx, alice.client, dm, mine.ID); typ != event.EventEncrypted {
		t.Errorf("the message from the phone is stored as %s, want m.room.encrypted", typ.Type)
	}

	// An edit on the phone, encrypted too.
	if _, err = phone.Send(ctx, carol.JID(), phone.Client().BuildEdit(carol.JID(), phoneID, &waE2E.Message{Conversation: proto.String("edited on my phone")})); err != nil {
		t.Fatal(err)
	}
	edit := js.WaitFor(ctx, dm, func(evt *e2e.JSEvent) bool {
		msg := evt.Event().Content.AsMessage()
		return evt.Sender == me && evt.Encrypted && evt.DecryptionFailure == "" && msg.NewContent != nil &&
			msg.NewContent.Body == "edited on my phone" && msg.RelatesTo.GetReplaceID() == mine.ID
	})
	if typ := serverType(t, ctx, alice.client, dm, edit.ID); typ != event.EventEncrypted {
		t.Errorf("the edit from the phone is stored as %s, want m.room.encrypted", typ.Type)
	}

	// A reaction on the phone (reactions go unencrypted, as clients send them).
	if _, err = phone.Send(ctx, carol.JID(), phone.Client().BuildReaction(carol.JID(), carol.JID(), hiID, "👍")); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, func(evt *e2e.JSEvent) bool {
		if evt.Sender != me || evt.Type != event.EventReaction.Type {
			return false
		}
		rel := evt.Event().Content.AsReaction().RelatesTo
		return rel.EventID == hi.ID && strings.TrimSuffix(rel.Key, "\ufe0f") == "👍"
	})

	// What the user sends from Matrix is still bridged; then a last message from the contact marks
	// the point by which anything bridged back or any notice would have shown.
	if _, err = js.Send(ctx, dm, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "typed in Matrix"}); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "typed in Matrix")
	if _, err = carol.SendText(ctx, alice.acct.JID(), "last"); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, jsDecrypted(carolGhost.String(), "last"))
	if n := carol.Count(func(evt any) bool {
		m, ok := evt.(*events.Message)
		return ok && fromCompanion(alice.acct, device, m.Info.Sender)
	}); n != 1 {
		t.Errorf("contact got %d messages from the bridge, want only the one typed in Matrix", n)
	}
	for _, evt := range js.Events(dm) {
		if evt.Sender == env.BotMXID() && (evt.Type == event.EventMessage.Type || evt.Type == event.EventEncrypted.Type) {
			t.Errorf("the bot posted a message in the portal: %s", evt.Content)
		}
		if evt.DecryptionFailure != "" {
			t.Errorf("the js-sdk client could not decrypt %s from %s: %s", evt.ID, evt.Sender, evt.DecryptionFailure)
		}
	}
}
