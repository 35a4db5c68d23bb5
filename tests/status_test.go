package tests

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestStatusBroadcast: with bridge.status_broadcast on, contacts' status updates (text and media)
// appear in a status room created with the first one, each from the contact's ghost; a message
// sent there is refused with a notice and never reaches WhatsApp.
func TestStatusBroadcast(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.status_broadcast", true)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340081")
	erin, erinGhost := newContact(t, ctx, env, "4917600000081", "Erin")
	fred, fredGhost := newContact(t, ctx, env, "4917600000082", "Fred")

	beachID, err := erin.PostStatus(ctx, &waE2E.Message{Conversation: proto.String("at the beach")}, alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID())
	beach := env.WaitForMessage(ctx, alice.client, room, fromGhost(erinGhost, "at the beach"))
	var name event.RoomNameEventContent
	if err := alice.client.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != portal.StatusRoomName {
		t.Fatalf("status room name %q (err %v), want %q", name.Name, err, portal.StatusRoomName)
	}
	var topic event.TopicEventContent
	if err := alice.client.StateEvent(ctx, room, event.StateTopic, "", &topic); err != nil || topic.Topic != portal.StatusRoomTopic {
		t.Fatalf("status room topic %q (err %v)", topic.Topic, err)
	}

	photo := randomBytes(t, "\xff\xd8\xff\xe0 status", 20_000)
	if _, err := fred.PostStatusMedia(ctx, wasim.Media{Kind: wasim.KindImage, Data: photo, Caption: "sunset"}, alice.acct); err != nil {
		t.Fatal(err)
	}
	img := env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == fredGhost && evt.Content.AsMessage().MsgType == event.MsgImage
	})
	if got := downloadEventMedia(t, ctx, alice.client, img); !bytes.Equal(got, photo) || img.Content.AsMessage().Body == "" {
		t.Fatalf("status photo: %d bytes (want %d), body %q", len(got), len(photo), img.Content.AsMessage().Body)
	}
	// Deleting a status on WhatsApp deletes it in Matrix.
	if _, err = erin.PostStatus(ctx, erin.Client().BuildRevoke(types.StatusBroadcastJID, erin.JID(), beachID), alice.acct); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, isRedacted(beach.ID))
	statusID, err := erin.PostStatus(ctx, &waE2E.Message{Conversation: proto.String("back home")}, alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	status := env.WaitForMessage(ctx, alice.client, room, fromGhost(erinGhost, "back home"))

	// Reading the status in Matrix tells Erin nothing; reading her direct message, handled after
	// it in the same transaction, does.
	dmID, err := erin.SendText(ctx, alice.acct.JID(), "did you see it?")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	question := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "did you see it?"))
	read := func(room id.RoomID, evt id.EventID) *event.Event {
		return &event.Event{Type: event.EphemeralEventReceipt, RoomID: room, Content: event.Content{Raw: map[string]any{
			evt.String(): map[string]any{"m.read": map[string]any{alice.client.UserID.String(): map[string]any{"ts": time.Now().UnixMilli()}}},
		}}}
	}
	if err = env.SendTransaction(ctx, "status-read", e2e.Transaction{Ephemeral: []*event.Event{read(room, status.ID), read(dm, question.ID)}}); err != nil {
		t.Fatal(err)
	}
	readBy := func(msgID types.MessageID) func(any) bool {
		return func(evt any) bool {
			r, ok := evt.(*events.Receipt)
			return ok && r.Type == types.ReceiptTypeRead && slices.Contains(r.MessageIDs, msgID)
		}
	}
	if _, err = erin.WaitEvent(ctx, readBy(dmID)); err != nil {
		t.Fatalf("the read receipt in the direct chat did not reach Erin: %v", err)
	}
	if n := erin.Count(readBy(statusID)); n != 0 {
		t.Errorf("Erin got %d read receipts for her status", n)
	}

	if _, err := alice.client.SendText(ctx, room, "nice beach"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == env.BotMXID() && c.MsgType == event.MsgNotice &&
			c.Body == "Your message was not bridged to WhatsApp: "+portal.ErrStatusRoomReadOnly.Error()
	})
	// The notice is sent once the message was handled: had it gone out, it would have been sent
	// before, and WhatsApp relays it at once to the phones.
	for _, c := range []*wasim.Contact{erin, fred} {
		if n := countText(c, "nice beach"); n != 0 {
			t.Errorf("%s got the message sent in the status room %d times", c.JID(), n)
		}
	}
}

// TestStatusBroadcastOff: with bridge.status_broadcast at its default (off) a status update
// creates no room and shows nowhere, while the contact's direct messages still arrive.
func TestStatusBroadcastOff(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340082")
	erin, erinGhost := newContact(t, ctx, env, "4917600000083", "Erin")

	if _, err := erin.PostStatus(ctx, &waE2E.Message{Conversation: proto.String("at the beach")}, alice.acct); err != nil {
		t.Fatal(err)
	}
	// WhatsApp events of one connection are handled in order: once the later direct message is
	// in Matrix, the status update was handled (dropped) before it.
	if _, err := erin.SendText(ctx, alice.acct.JID(), "after the status"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "after the status"))
	if msgs := timelineBodies(t, ctx, alice.client, dm); bytes.Contains([]byte(msgs), []byte("at the beach")) {
		t.Errorf("the status update shows in the direct chat: %s", msgs)
	}
	resp, err := alice.client.FullSyncRequest(ctx, mautrix.ReqSync{FullState: true})
	if err != nil {
		t.Fatal(err)
	}
	for roomID, room := range resp.Rooms.Invite {
		for _, evt := range room.State.Events {
			if evt.Type == event.StateMember && evt.GetStateKey() == alice.client.UserID.String() && evt.Sender == env.BotMXID() {
				t.Errorf("the bot invited alice to %s with the status option off", roomID)
			}
		}
	}
	for roomID := range resp.Rooms.Join {
		if roomID != alice.room && roomID != dm {
			t.Errorf("alice is in an unexpected room %s", roomID)
		}
	}
}

// timelineBodies joins the bodies of the last messages in room, for assertions on what shows.
func timelineBodies(t *testing.T, ctx context.Context, client *mautrix.Client, room id.RoomID) string {
	t.Helper()
	evts, err := e2e.Timeline(ctx, client, room, 50)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, evt := range evts {
		if evt.Type == event.EventMessage {
			out = append(append(out, evt.Content.AsMessage().Body...), '\n')
		}
	}
	return string(out)
}
