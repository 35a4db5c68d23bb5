package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestContactsMentionsAndNewChats: list-contacts/search find contacts, `pm` and inviting a ghost
// start chats, mentions become pills and back, and a message kind the bridge cannot show yet
// becomes a visible notice.
func TestContactsMentionsAndNewChats(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, _ := newContact(t, ctx, env, "4917600000002", "Carol")
	dave, _ := newContact(t, ctx, env, "4917600000003", "Dave")
	erin, _ := newContact(t, ctx, env, "4917600000004", "Erin")
	carolGhost, daveGhost, erinGhost := ghostOf(env, "4917600000002"), ghostOf(env, "4917600000003"), ghostOf(env, "4917600000004")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "hi from carol"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "hi from carol"))

	// Contacts.
	sendText(t, ctx, alice.client, alice.room, "list-contacts")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Carol", "+4917600000002", carolGhost.String()))
	sendText(t, ctx, alice.client, alice.room, "search car")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "1 contact(s)", "Carol"))
	sendText(t, ctx, alice.client, alice.room, "search nobody-like-this")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "No contacts match"))

	// A prefixed command in a portal is answered there and not sent to WhatsApp.
	sendText(t, ctx, alice.client, dm, "!wa ping")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Logged in as +4915112345678"))

	// pm opens a DM with a number nobody wrote from yet.
	sendText(t, ctx, alice.client, alice.room, "pm +49 176 00000003")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your chat with +4917600000003"))
	daveDM := joinPortal(t, ctx, env, alice.client, daveGhost, dm)
	sendText(t, ctx, alice.client, daveDM, "hello dave")
	waitWAText(t, ctx, dave, "hello dave")

	// Inviting a ghost to a new room makes it the DM.
	created, err := alice.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{erinGhost}})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitForJoin(ctx, alice.client, created.RoomID, erinGhost)
	sendText(t, ctx, alice.client, created.RoomID, "hello erin")
	waitWAText(t, ctx, erin, "hello erin")
	if _, err = erin.SendText(ctx, alice.acct.JID(), "hi alice"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, created.RoomID, fromGhost(erinGhost, "hi alice"))

	// Mentions, WhatsApp -> Matrix: the bridge user is mentioned with their own account, contacts
	// with their ghosts.
	_, err = carol.Send(ctx, alice.acct.JID(), &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text:        proto.String("hey @4915112345678 meet @4917600000003"),
		ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{alice.acct.JID().String(), dave.JID().String()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mention := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && strings.HasPrefix(evt.Content.AsMessage().Body, "hey ")
	})
	content := mention.Content.AsMessage()
	for _, want := range []string{"https://matrix.to/#/" + alice.client.UserID.String(), "https://matrix.to/#/" + daveGhost.String()} {
		if !strings.Contains(content.FormattedBody, want) {
			t.Errorf("mention message lacks a pill to %s: %q", want, content.FormattedBody)
		}
	}
	if content.Mentions == nil || !content.Mentions.Has(alice.client.UserID) {
		t.Errorf("m.mentions does not mention the user: %+v", content.Mentions)
	}

	// Mentions, Matrix -> WhatsApp: a pill becomes @number with the JID in the mention list.
	_, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "Carol: look", Format: event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/` + carolGhost.String() + `">Carol</a>: look`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{carolGhost}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := waitWAText(t, ctx, carol, "@4917600000002: look")
	if mentioned := msg.Message.GetExtendedTextMessage().GetContextInfo().GetMentionedJID(); len(mentioned) != 1 || !strings.HasPrefix(mentioned[0], "4917600000002@") {
		t.Errorf("WhatsApp mention list = %v", mentioned)
	}

	// A kind the bridge does not show yet is announced, not dropped.
	if _, err = carol.Send(ctx, alice.acct.JID(), &waE2E.Message{GroupInviteMessage: &waE2E.GroupInviteMessage{
		GroupJID: proto.String("120363000000000001@g.us"), InviteCode: proto.String("AbCdEf"), GroupName: proto.String("Climbing"),
	}}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && strings.Contains(evt.Content.AsMessage().Body, "Unsupported message type: group invite")
	})
	if n := carol.Count(func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && wasim.MessageText(msg) == "!wa ping"
	}); n != 0 {
		t.Errorf("the command in the portal reached WhatsApp %d times", n)
	}
}
