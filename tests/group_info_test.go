package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestGroupInfoFromMatrix: a bridge user who is a WhatsApp admin of a group renames it and sets its
// description in Matrix, invites and kicks a contact's ghost and makes another contact's ghost a
// moderator; the members see each change on WhatsApp.
func TestGroupInfoFromMatrix(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340101")
	carol, _ := newContact(t, ctx, env, "4917600000101", "Carol")
	erin, erinGhost := newContact(t, ctx, env, "4917600000103", "Erin")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Old name", alice.acct, erin.Account())
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), group, wasim.GroupPromote, alice.acct); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "Alice's admin power level", func() bool {
		var levels event.PowerLevelsEventContent
		return alice.client.StateEvent(ctx, room, event.StatePowerLevels, "", &levels) == nil && levels.GetUserLevel(alice.client.UserID) >= levels.GetEventLevel(event.StateRoomName)
	})

	if _, err = alice.client.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: "New name"}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		return ok && info.JID == group && info.Name != nil && info.Name.Name == "New name"
	}); err != nil {
		t.Fatalf("Carol never saw the new name: %v", err)
	}
	if _, err = alice.client.SendStateEvent(ctx, room, event.StateTopic, "", &event.TopicEventContent{Topic: "Plans for Saturday"}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		return ok && info.JID == group && info.Topic != nil && info.Topic.Topic == "Plans for Saturday"
	}); err != nil {
		t.Fatalf("Carol never saw the new description: %v", err)
	}
	got, err := carol.Client().GetGroupInfo(ctx, group)
	if err != nil || got.Name != "New name" || got.Topic != "Plans for Saturday" {
		t.Fatalf("group info %q / %q (%v)", got.Name, got.Topic, err)
	}

	// Inviting a contact's ghost adds the contact; kicking it removes them.
	dave, daveGhost := newContact(t, ctx, env, "4917600000102", "Dave")
	if _, err = alice.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: daveGhost}); err != nil {
		t.Fatal(err)
	}
	if _, err = dave.WaitEvent(ctx, func(evt any) bool {
		joined, ok := evt.(*events.JoinedGroup)
		return ok && joined.JID == group
	}); err != nil {
		t.Fatalf("Dave was never added to the group: %v", err)
	}
	env.WaitForJoin(ctx, alice.client, room, daveGhost)
	if _, err = alice.client.KickUser(ctx, room, &mautrix.ReqKickUser{UserID: daveGhost, Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		if !ok || info.JID != group {
			return false
		}
		for _, left := range info.Leave {
			if left.User == dave.JID().User || left.User == dave.LID().User {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("Carol never saw Dave removed: %v", err)
	}

	// Raising a contact's ghost to moderator promotes the contact. (Matrix itself keeps a
	// moderator from lowering an equal level, so WhatsApp's refusals are covered by the portal tests.)
	var levels event.PowerLevelsEventContent
	if err = alice.client.StateEvent(ctx, room, event.StatePowerLevels, "", &levels); err != nil {
		t.Fatal(err)
	}
	levels.SetUserLevel(erinGhost, 50)
	if _, err = alice.client.SendStateEvent(ctx, room, event.StatePowerLevels, "", &levels); err != nil {
		t.Fatal(err)
	}
	if _, err = erin.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		return ok && info.JID == group && len(info.Promote) == 1 && (info.Promote[0].User == erin.LID().User || info.Promote[0].User == erin.JID().User)
	}); err != nil {
		t.Fatalf("Erin was never promoted: %v", err)
	}
}
