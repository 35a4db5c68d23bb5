package tests

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestRelayMode: in a group's room, a Matrix user without a WhatsApp login is refused until a
// logged-in member sends set-relay; then their text, an attachment and an edit reach WhatsApp
// through that member's account with their name in front; after unset-relay they are refused
// again, and relaying in a direct chat is refused as the config says.
func TestRelayMode(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.relay.enabled", true)
		e2e.SetConfig(cfg, "bridge.relay.admin_only", false)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Club", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)

	bob := env.NewUser(t, "bob")
	if err = bob.SetDisplayName(ctx, "Bob Builder"); err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err = bob.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	env.WaitForJoin(ctx, alice.client, room, bob.UserID)

	// No relay yet: Bob is told, nothing reaches WhatsApp.
	sendText(t, ctx, bob, room, "before the relay")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "not bridged to WhatsApp", "this room has no relay"))
	sendText(t, ctx, bob, room, "!wa set-relay")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "The relay was not changed", "not logged in"))
	sendText(t, ctx, alice.client, room, "!wa set-relay")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "now sent through your WhatsApp account (+4915112345678)"))

	// Text, an attachment and an edit, relayed through Alice's account.
	hello := sendText(t, ctx, bob, room, "hello all")
	got := waitWAText(t, ctx, carol, "Bob Builder: hello all")
	if got.Info.Sender.User != alice.acct.LID().User && got.Info.Sender.User != alice.acct.JID().User {
		t.Errorf("relayed message came from %s, want Alice's account", got.Info.Sender)
	}
	photo := randomBytes(t, "\x89PNG\r\n\x1a\n photo", 20_000)
	up, err := bob.UploadBytes(ctx, photo, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, bob, room, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "photo.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(photo), Width: 64, Height: 48},
	})
	img := waitWAKind(t, ctx, carol, wasim.KindImage)
	if c := img.Message.GetImageMessage(); c.GetCaption() != "Bob Builder" {
		t.Errorf("relayed image caption = %q, want the sender's name", c.GetCaption())
	}
	if data, err := carol.Download(ctx, img.Message); err != nil || !bytes.Equal(data, photo) {
		t.Errorf("download of the relayed image: %v, equal %v", err, bytes.Equal(data, photo))
	}
	if _, err = bob.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "* hello everyone",
		NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "hello everyone"},
		RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: hello},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && pm.GetKey().GetID() == got.Info.ID &&
			pm.GetEditedMessage().GetConversation() == "Bob Builder: hello everyone"
	}); err != nil {
		t.Fatalf("relayed edit did not reach WhatsApp: %v", err)
	}
	// Alice's own messages go out as they are; Carol's answer reaches the room.
	sendText(t, ctx, alice.client, room, "welcome Bob")
	waitWAText(t, ctx, carol, "welcome Bob")
	if _, err = carol.SendText(ctx, group, "hi Bob"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, bob, room, fromGhost(carolGhost, "hi Bob"))

	// Relay off: Bob is refused again.
	sendText(t, ctx, alice.client, room, "!wa unset-relay")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Relaying is off in this room"))
	sendText(t, ctx, bob, room, "after the relay")
	waitForNotices(t, ctx, env.Env, alice.client, room, 2, "not bridged to WhatsApp", "this room has no relay")
	if n := countText(carol, "Bob Builder: after the relay") + countText(carol, "Bob Builder: before the relay") + countText(carol, "after the relay") + countText(carol, "before the relay"); n != 0 {
		t.Errorf("WhatsApp got %d messages sent without a relay", n)
	}

	// Direct chats: not allowed by this config.
	if _, err = carol.SendText(ctx, alice.acct.JID(), "private"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	sendText(t, ctx, alice.client, dm, "!wa set-relay")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "The relay was not changed", "not allowed in direct chats"))
}
