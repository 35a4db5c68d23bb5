package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// countMessages counts the messages in a room with the given sender and body.
func countMessages(t testing.TB, ctx context.Context, env *waEnv, user *loggedInUser, room id.RoomID, sender id.UserID, body string) int {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, user.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, evt := range timeline {
		if evt.Type == event.EventMessage && evt.Sender == sender && evt.Content.AsMessage().Body == body {
			n++
		}
	}
	return n
}

// TestGroupSharedByTwoUsers: a WhatsApp group with two bridge users becomes one portal room with the
// group's name, topic, members and admins; messages from either side appear once although both
// users' connections deliver them; name changes and membership changes are bridged.
func TestGroupSharedByTwoUsers(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, dialect, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
			// Bob's account is in the group before he logs in: the portal must appear right after login.
			bobAcct, err := env.WA.CreateAccount(ctx, "4915112345679", "Bob")
			if err != nil {
				t.Fatal(err)
			}
			carol, _ := newContact(t, ctx, env, "4917600000002", "Carol")
			dave, _ := newContact(t, ctx, env, "4917600000003", "Dave")
			carolGhost, daveGhost := ghostOf(env, "4917600000002"), ghostOf(env, "4917600000003")

			group, err := env.WA.CreateGroup(ctx, carol.Account(), "Weekend trip", alice.acct, bobAcct)
			if err != nil {
				t.Fatal(err)
			}
			if err = env.WA.SetGroupTopic(ctx, carol.Account(), group, "Who brings the tent?"); err != nil {
				t.Fatal(err)
			}
			bob := logInAccount(t, ctx, env, "bob", bobAcct)
			bot := env.BotMXID()
			roomA := joinPortal(t, ctx, env, alice.client, bot, alice.room)
			roomB := joinPortal(t, ctx, env, bob.client, bot, bob.room)
			if roomA != roomB {
				t.Fatalf("two bridge users got two rooms for one group: %s and %s", roomA, roomB)
			}
			room := roomA
			env.WaitForJoin(ctx, alice.client, room, carolGhost)
			env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
				return evt.Type == event.StateTopic && evt.Content.AsTopic().Topic == "Who brings the tent?"
			})

			var name event.RoomNameEventContent
			if err = alice.client.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != "Weekend trip" {
				t.Errorf("room name = %q (%v), want the group's name", name.Name, err)
			}
			var levels event.PowerLevelsEventContent
			if err = alice.client.StateEvent(ctx, room, event.StatePowerLevels, "", &levels); err != nil {
				t.Fatal(err)
			}
			if levels.GetUserLevel(carolGhost) < 50 {
				t.Errorf("the group's creator (a WhatsApp admin) has power %d, want moderator", levels.GetUserLevel(carolGhost))
			}
			var info event.BridgeEventContent
			if err = alice.client.StateEvent(ctx, room, event.StateBridge, "fi.matrix-whatsapp://whatsapp/"+group.String(), &info); err != nil || info.Channel.ID != group.String() {
				t.Errorf("bridge info state = %+v (%v)", info, err)
			}

			// A WhatsApp message reaches both users' connections and appears once.
			if _, err = carol.SendText(ctx, group, "hello group"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "hello group"))
			// A Matrix message goes out once, and its copy coming back through bob's connection is not
			// shown again.
			sendText(t, ctx, alice.client, room, "hello from alice")
			waitWAText(t, ctx, carol, "hello from alice")
			if _, err = carol.SendText(ctx, group, "marker"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "marker"))
			if n := countMessages(t, ctx, env, alice, room, carolGhost, "hello group"); n != 1 {
				t.Errorf("the group message appears %d times, want once", n)
			}
			if n := countMessages(t, ctx, env, alice, room, alice.client.UserID, "hello from alice"); n != 1 {
				t.Errorf("alice's message appears %d times, want once", n)
			}
			if n := countMessages(t, ctx, env, alice, room, ghostOf(env, "4915112345678"), "hello from alice"); n != 0 {
				t.Errorf("alice's message came back as her ghost %d times", n)
			}

			// Renames and membership changes.
			if err = env.WA.SetGroupName(ctx, carol.Account(), group, "Weekend trip 2026"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
				return evt.Type == event.StateRoomName && evt.Content.AsRoomName().Name == "Weekend trip 2026"
			})
			if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), group, wasim.GroupAdd, dave.Account()); err != nil {
				t.Fatal(err)
			}
			env.WaitForJoin(ctx, alice.client, room, daveGhost)
			if _, err = dave.SendText(ctx, group, "thanks for adding me"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, room, fromGhost(daveGhost, "thanks for adding me"))
			if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), group, wasim.GroupRemove, dave.Account()); err != nil {
				t.Fatal(err)
			}
			// Carol removed Dave: the room says so (a kick naming her), not that he left.
			env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
				return evt.Type == event.StateMember && evt.GetStateKey() == daveGhost.String() && evt.Content.AsMember().Membership == event.MembershipLeave &&
					evt.Sender != daveGhost && strings.HasPrefix(evt.Content.AsMember().Reason, "Removed from the WhatsApp group by Carol")
			})
		})
	}
}
