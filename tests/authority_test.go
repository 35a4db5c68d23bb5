package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestOthersCannotActInYourRooms: another bridge user invited into alice's management room and into
// her DM portal can neither run commands there as her (an unprefixed "logout" is ignored, she stays
// logged in) nor write to her contact from the portal (the message is refused with a notice and
// never reaches WhatsApp), while alice's own messages still go out; and once bob's permission is
// lowered, his messages in his own portal are refused too.
func TestOthersCannotActInYourRooms(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	bob := newLoggedInUser(t, ctx, env, "bob", "4915112345679")
	carol, _, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hi alice")

	for _, room := range []id.RoomID{alice.room, dm} {
		if _, err := alice.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: bob.client.UserID}); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.client.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
	}

	// bob's unprefixed command in alice's management room is not a command.
	sendText(t, ctx, bob.client, alice.room, "logout")
	sendText(t, ctx, alice.client, alice.room, "status")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Logged in as +4915112345678"))
	if n := countNotices(t, ctx, env.Env, alice.client, alice.room, "logged out"); n != 0 {
		t.Errorf("bob's message in alice's management room logged somebody out (%d notices)", n)
	}

	// bob's message in alice's DM portal does not reach her contact from his account.
	sendText(t, ctx, bob.client, dm, "bob writing in alice's chat")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "belongs to another user's WhatsApp account"))
	sendText(t, ctx, alice.client, dm, "alice again")
	waitWAText(t, ctx, carol, "alice again")
	if n := countText(carol, "bob writing in alice's chat"); n != 0 {
		t.Errorf("carol received bob's message from alice's portal %d times", n)
	}

	// Permission is checked on every event: once bob's level is lowered to relay, his messages in
	// his own DM portal are no longer bridged, though he is still logged in.
	dan, _, bobDM := openDMSaying(t, ctx, env, bob, "4917600000003", "Dan", "hi bob")
	env.UpdateBridgeConfig(func(cfg map[string]any) {
		e2e.GetConfig(cfg, "bridge.permissions").(map[string]any)[bob.client.UserID.String()] = "relay"
	})
	env.RestartBridge()
	sendText(t, ctx, bob.client, bobDM, "bob without permission")
	env.WaitForMessage(ctx, bob.client, bobDM, botNotice(env.Env, "not allowed to use this bridge"))
	// At relay level the commands of that level still answer (version, as help lists it), the
	// others are refused.
	sendText(t, ctx, bob.client, bob.room, "version")
	env.WaitForMessage(ctx, bob.client, bob.room, func(evt *event.Event) bool {
		return botNotice(env.Env)(evt) && strings.HasPrefix(evt.Content.AsMessage().Body, "matrix-whatsapp ")
	})
	sendText(t, ctx, bob.client, bob.room, "logout")
	env.WaitForMessage(ctx, bob.client, bob.room, botNotice(env.Env, "Sorry, you are not allowed to use this bridge."))
	sendText(t, ctx, alice.client, dm, "alice after the restart")
	waitWAText(t, ctx, carol, "alice after the restart")
	if n := countText(dan, "bob without permission"); n != 0 {
		t.Errorf("dan received a message from bob after his permission was lowered (%d times)", n)
	}

	// A portal takes events only from members of its room: a message in alice's DM in the name of
	// bob, who left it, as a buggy or forged transaction would carry it, is dropped without a word
	// (the restart above emptied what the bridge knew of the room's members, so it asks the
	// homeserver).
	if _, err := bob.client.LeaveRoom(ctx, dm); err != nil {
		t.Fatal(err)
	}
	if err := env.SendTransaction(ctx, "forged-non-member", e2e.Transaction{Events: []*event.Event{{
		ID: "$forged-non-member", RoomID: dm, Sender: bob.client.UserID, Type: event.EventMessage, Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Raw: map[string]any{"msgtype": "m.text", "body": "bob after leaving"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	sendText(t, ctx, alice.client, dm, "alice last")
	waitWAText(t, ctx, carol, "alice last") // the room's events are handled in order
	if n := countText(carol, "bob after leaving"); n != 0 {
		t.Errorf("carol received a message of a user who had left the room %d times", n)
	}
	if n := countNotices(t, ctx, env.Env, alice.client, dm, "belongs to another user's WhatsApp account"); n != 1 {
		t.Errorf("the room has %d notices about another user's messages, want the one from before bob left", n)
	}
}
