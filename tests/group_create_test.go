package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestCreateGroupFromMatrix: a user makes a named room, invites the bridge bot and two contacts'
// ghosts (not as a direct chat) and sends the create command; the contacts find themselves in a
// new WhatsApp group of that name, and the room is its chat in both directions.
func TestCreateGroupFromMatrix(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340131")
	dave, daveGhost := newContact(t, ctx, env, "4917600000131", "Dave")
	erin, erinGhost := newContact(t, ctx, env, "4917600000132", "Erin")

	created, err := alice.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat", Name: "Weekend", Invite: []id.UserID{env.BotMXID(), daveGhost, erinGhost},
	})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	for _, member := range []id.UserID{env.BotMXID(), daveGhost, erinGhost} {
		env.WaitForJoin(ctx, alice.client, room, member)
	}
	if _, err = alice.client.SendText(ctx, room, "!wa create"); err != nil {
		t.Fatal(err)
	}
	var group *events.JoinedGroup
	for _, contact := range []interface {
		WaitEvent(context.Context, func(any) bool) (any, error)
	}{dave, erin} {
		got, err := contact.WaitEvent(ctx, func(evt any) bool {
			joined, ok := evt.(*events.JoinedGroup)
			return ok && joined.Name == "Weekend"
		})
		if err != nil {
			t.Fatalf("a contact never joined the new group: %v", err)
		}
		group = got.(*events.JoinedGroup)
	}
	env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		// The room's creator left the bot at power level 0: the reply asks for 100.
		body := evt.Content.AsMessage().Body
		return evt.Sender == env.BotMXID() && strings.HasPrefix(body, "Created the WhatsApp group **Weekend** with 2 contacts; this room is its chat now.") &&
			strings.Contains(body, "Give the bridge bot power level 100 in this room (it has 0)")
	})

	// The room is the group's chat both ways.
	if _, err = alice.client.SendText(ctx, room, "Who brings the tent?"); err != nil {
		t.Fatal(err)
	}
	if _, err = dave.WaitMessage(ctx, func(m *events.Message) bool {
		return m.Info.Chat == group.JID && m.Message.GetConversation() == "Who brings the tent?"
	}); err != nil {
		t.Fatalf("Dave never got the message in the group: %v", err)
	}
	if _, err = erin.SendText(ctx, group.JID, "I do"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, fromGhost(erinGhost, "I do"))

	// The command in a room that already is a chat creates nothing.
	if _, err = alice.client.SendText(ctx, room, "!wa create"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == env.BotMXID() && evt.Content.AsMessage().Body == "The group was not created: this room is already bridged to a WhatsApp chat."
	})
}
