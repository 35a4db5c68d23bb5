package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestDisappearingMessages: a contact turning on disappearing messages shows in the room as state
// and a notice; the `disappearing` command changes the timer on WhatsApp, after which messages
// from Matrix carry it; a timer WhatsApp does not offer is refused with a hint.
func TestDisappearingMessages(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340081")
	erin, erinGhost := newContact(t, ctx, env, "4917600000081", "Erin")
	if _, err := erin.SendText(ctx, alice.acct.JID(), "hi"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "hi"))

	if err := erin.Client().SetDisappearingTimer(ctx, alice.acct.JID(), whatsmeow.DisappearingTimer7Days, time.Now()); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Content.AsMessage().Body == "Disappearing messages are on: new messages disappear from WhatsApp 7 days after they are sent."
	})
	var state event.BeeperDisappearingTimer
	if err := alice.client.StateEvent(ctx, dm, event.StateBeeperDisappearingTimer, "", &state); err != nil {
		t.Fatalf("no disappearing timer state: %v", err)
	}
	if state.Type != event.DisappearingTypeAfterSend || state.Timer.Duration != 7*24*time.Hour {
		t.Errorf("timer state %+v", state)
	}

	sendText(t, ctx, alice.client, dm, "!wa disappearing 24h")
	setting, err := erin.WaitMessage(ctx, func(m *events.Message) bool {
		return m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_EPHEMERAL_SETTING
	})
	if err != nil {
		t.Fatalf("WhatsApp never received the timer: %v", err)
	}
	if got := setting.Message.GetProtocolMessage().GetEphemeralExpiration(); got != 86400 {
		t.Errorf("WhatsApp received timer %d s, want 86400", got)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "new messages disappear from WhatsApp 24 hours after they are sent"))
	sendText(t, ctx, alice.client, dm, "gone tomorrow")
	msg := waitWAText(t, ctx, erin, "gone tomorrow")
	if exp := msg.Message.GetExtendedTextMessage().GetContextInfo().GetExpiration(); exp != 86400 {
		t.Errorf("message sent with expiration %d, want 86400", exp)
	}

	sendText(t, ctx, alice.client, dm, "!wa disappearing 5m")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "is not a disappearing-messages timer WhatsApp offers: use off, 24h, 7d or 90d"))
	// Another command in the same (unnamed) DM room: that the room is a chat already is the
	// answer, not that it lacks a name.
	sendText(t, ctx, alice.client, dm, "!wa create")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "The group was not created: this room is already bridged to a WhatsApp chat."))
	sendText(t, ctx, alice.client, dm, "!wa disappearing 1d")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "Disappearing messages are already on in this chat: new messages last 24 hours."))
	if n := erin.Count(func(evt any) bool {
		m, ok := evt.(*events.Message)
		return ok && m.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_EPHEMERAL_SETTING
	}); n != 1 {
		t.Errorf("the contact got %d timer changes, want 1", n)
	}
}

// TestDisappearingInGroup: a group member's timer change on WhatsApp shows in the group's room, and
// the command in the room changes the group's timer for every member.
func TestDisappearingInGroup(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340091")
	carol, carolGhost := newContact(t, ctx, env, "4917600000091", "Carol")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Secrets", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)

	if err = carol.Client().SetDisappearingTimer(ctx, group, whatsmeow.DisappearingTimer90Days, time.Time{}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && evt.Content.AsMessage().Body == "Disappearing messages are on: new messages disappear from WhatsApp 90 days after they are sent."
	})

	sendText(t, ctx, alice.client, room, "!wa disappearing off")
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		info, ok := evt.(*events.GroupInfo)
		return ok && info.JID == group && info.Ephemeral != nil && !info.Ephemeral.IsEphemeral
	}); err != nil {
		t.Fatalf("Carol never heard the timer go off: %v", err)
	}
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Disappearing messages are off"))
}
