package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestMatrixMessagesWhatsAppCannotTake: what WhatsApp would show wrongly is refused with a notice
// naming the reason, and nothing reaches WhatsApp: a reaction that is only the emoji variation
// selector (WhatsApp would take "" as taking the reaction back), a message without text, one
// without a msgtype. A second reaction to one message replaces the first on WhatsApp, so the
// first is redacted in Matrix too and both sides show one reaction.
func TestMatrixMessagesWhatsAppCannotTake(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340151")
	carol, carolGhost := newContact(t, ctx, env, "4917600000151", "Carol")
	firstID, err := carol.SendText(ctx, alice.acct.JID(), "Pizza tonight?")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	first := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Pizza tonight?"))

	if _, err = alice.client.SendReaction(ctx, dm, first.ID, "\ufe0f"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Your reaction was not bridged to WhatsApp: the reaction is only an invisible character"))
	if _, err = alice.client.SendReaction(ctx, dm, first.ID, "lol"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Your reaction was not bridged to WhatsApp: WhatsApp reactions are single emoji"))
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: " \n "}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Your message was not bridged to WhatsApp: it has no text"))
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, map[string]any{"body": "typeless"}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Your message was not bridged to WhatsApp: it has no message type (`msgtype`)"))
	// An edit of the contact's message: WhatsApp lets people edit only their own.
	hijack := &event.MessageEventContent{MsgType: event.MsgText, Body: "* Salad tonight?",
		NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "Salad tonight?"}}
	hijack.RelatesTo = &event.RelatesTo{Type: event.RelReplace, EventID: first.ID}
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, hijack); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Your edit was not bridged to WhatsApp: WhatsApp only lets you edit your own messages"))

	thumbs, err := alice.client.SendReaction(ctx, dm, first.ID, "👍")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r.GetKey().GetID() == firstID && r.GetText() == "👍"
	}); err != nil {
		t.Fatalf("the first reaction did not reach WhatsApp: %v", err)
	}
	if _, err = alice.client.SendReaction(ctx, dm, first.ID, "\u2764\ufe0f"); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r.GetKey().GetID() == firstID && r.GetText() == "\u2764"
	}); err != nil {
		t.Fatalf("the second reaction did not reach WhatsApp: %v", err)
	}
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(thumbs.EventID))

	// WhatsApp got the two reactions and no message or reaction from the refused events.
	sendText(t, ctx, alice.client, dm, "after")
	waitWAText(t, ctx, carol, "after")
	var got []string
	for _, evt := range carol.EventLog.All() {
		if m, ok := evt.(*events.Message); ok && !m.Info.IsFromMe {
			if r := m.Message.GetReactionMessage(); r != nil {
				got = append(got, "reaction "+r.GetText())
			} else {
				got = append(got, "text "+m.Message.GetConversation()+m.Message.GetExtendedTextMessage().GetText())
			}
		}
	}
	if want := []string{"reaction 👍", "reaction \u2764", "text after"}; !slices.Equal(got, want) {
		t.Errorf("WhatsApp got %q, want %q", got, want)
	}
}
