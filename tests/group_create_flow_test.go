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

// TestCreateGroupElementFlow follows a group made the way Element users make one: a room with only
// the bot invited, then the contacts' ghosts, then the create command. The user's management room
// stays theirs; the ghost of a number not on WhatsApp is named as not added; the bot, left at power
// level 0 by the room's creator, says it needs 100 and says so again when it cannot undo a refused
// rename; inviting a number not on WhatsApp later is withdrawn with a notice naming the number.
func TestCreateGroupElementFlow(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340141")
	dave, daveGhost := newContact(t, ctx, env, "4917600000141", "Dave")
	nobody := ghostOf(env, "4917699990141")
	botNoticeIs := func(body string) func(*event.Event) bool {
		return func(evt *event.Event) bool {
			return evt.Sender == env.BotMXID() && evt.Type == event.EventMessage && evt.Content.AsMessage().Body == body
		}
	}

	long := strings.Repeat("x", 101)
	created, err := alice.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: long, Invite: []id.UserID{env.BotMXID()}})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	env.WaitForJoin(ctx, alice.client, room, env.BotMXID())
	for _, ghost := range []id.UserID{daveGhost, nobody} {
		if _, err = alice.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: ghost}); err != nil {
			t.Fatal(err)
		}
		env.WaitForJoin(ctx, alice.client, room, ghost)
	}

	// The management room is still the one from the login, and answers without the prefix.
	sendText(t, ctx, alice.client, alice.room, "version")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "matrix-whatsapp"))

	// WhatsApp refuses a name over 100 characters with 406.
	sendText(t, ctx, alice.client, room, "!wa create")
	env.WaitForMessage(ctx, alice.client, room, botNoticeIs("The group was not created: the name is too long (WhatsApp allows 100 characters)."))
	if _, err = alice.client.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: "Weekend plans"}); err != nil {
		t.Fatal(err)
	}
	sendText(t, ctx, alice.client, room, "!wa create")
	env.WaitForMessage(ctx, alice.client, room, botNoticeIs("Created the WhatsApp group **Weekend plans** with 1 contact; this room is its chat now. "+
		"Not added: +4917699990141 is not on WhatsApp. Give the bridge bot power level 100 in this room (it has 0): without it, "+
		"changes made on WhatsApp (name, members, admins) are not shown here and changes WhatsApp refuses cannot be undone."))
	joined, err := dave.WaitEvent(ctx, func(evt any) bool {
		j, ok := evt.(*events.JoinedGroup)
		return ok && j.Name == "Weekend plans"
	})
	if err != nil {
		t.Fatalf("Dave never joined the new group: %v", err)
	}
	if n := len(joined.(*events.JoinedGroup).Participants); n != 2 {
		t.Errorf("the group has %d members on WhatsApp, want Alice and Dave", n)
	}
	if room := alice.room; room == "" {
		t.Fatal("no management room")
	}
	for _, evt := range timelineOf(t, ctx, env, alice.client, room) {
		if evt.Sender == env.BotMXID() && strings.Contains(evt.Content.AsMessage().Body, "management room") {
			t.Errorf("the group's room was made the management room: %q", evt.Content.AsMessage().Body)
		}
	}

	// Without power the bot cannot put a refused name back, and says so instead of claiming it did.
	if _, err = alice.client.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: long}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, botNoticeIs("The group's name was not changed on WhatsApp (the name is too long: WhatsApp allows 100 characters), "+
		"but the change could not be undone here: the bridge bot has power level 0 in this room and needs 50. "+
		"Give the bot power level 100 so that the room can follow the WhatsApp group."))

	// With power, inviting a number that is not on WhatsApp is withdrawn, naming the number.
	var levels event.PowerLevelsEventContent
	if err = alice.client.StateEvent(ctx, room, event.StatePowerLevels, "", &levels); err != nil {
		t.Fatal(err)
	}
	levels.SetUserLevel(env.BotMXID(), 100)
	if _, err = alice.client.SendStateEvent(ctx, room, event.StatePowerLevels, "", &levels); err != nil {
		t.Fatal(err)
	}
	stranger := ghostOf(env, "4917699990142")
	if _, err = alice.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: stranger}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, botNoticeIs("+4917699990142 is not on WhatsApp, so they were not added to the group, and the invite was withdrawn here."))
	var member event.MemberEventContent
	if err = alice.client.StateEvent(ctx, room, event.StateMember, stranger.String(), &member); err != nil || member.Membership != event.MembershipLeave {
		t.Errorf("the stranger's membership is %q (%v), want leave", member.Membership, err)
	}

	// Someone who left their management room gets a new one from a new chat with the bot.
	if _, err = alice.client.LeaveRoom(ctx, alice.room); err != nil {
		t.Fatal(err)
	}
	fresh := openManagementRoom(t, ctx, env.Env, alice.client)
	sendText(t, ctx, alice.client, fresh, "version")
	env.WaitForMessage(ctx, alice.client, fresh, botNotice(env.Env, "matrix-whatsapp"))
}

func timelineOf(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID) []*event.Event {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, client, room, 200)
	if err != nil {
		t.Fatal(err)
	}
	return timeline
}
