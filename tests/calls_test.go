package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// callNotices returns the bodies of the notices in the room that are about calls, oldest first.
func callNotices(t *testing.T, ctx context.Context, user *loggedInUser, room id.RoomID) []string {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, user.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, evt := range timeline {
		if msg := evt.Content.AsMessage(); evt.Type == event.EventMessage && msg.MsgType == event.MsgNotice && strings.Contains(strings.ToLower(msg.Body), "call") {
			out = append(out, msg.Body)
		}
	}
	return out
}

func noticeFrom(ghost id.UserID, body string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Sender == ghost && evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgNotice &&
			evt.Content.AsMessage().Body == body
	}
}

// TestCallNotices: an incoming WhatsApp call shows "Incoming call" in the caller's DM, a call
// nobody answered "Missed call" afterwards, a call answered or declined on the phone says so (and
// its end is no missed call), and a group call a notice in the group's room.
func TestCallNotices(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340002")
	carol, carolGhost := newContact(t, ctx, env, "4917600000021", "Carol")

	callID, err := carol.Call(alice.acct.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, noticeFrom(carolGhost, "Incoming call. Answer it with WhatsApp on your phone."))
	if err = carol.EndCall(alice.acct.JID(), callID, wasim.CallTimeout); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, noticeFrom(carolGhost, "Missed call."))

	// A call answered on the phone says so, and its end is not a missed call.
	answered, err := carol.Call(alice.acct.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err = alice.acct.AnswerCall(carol.JID(), answered); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, noticeFrom(carolGhost, "You answered the call on your phone."))
	if err = carol.EndCall(alice.acct.JID(), answered, wasim.CallHangUp); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, noticeFrom(carolGhost, "The call ended."))
	// A call declined on the phone says so.
	declined, err := carol.Call(alice.acct.JID(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err = alice.acct.DeclineCall(carol.JID(), declined); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, noticeFrom(carolGhost, "You declined the call on your phone."))
	want := []string{
		"Incoming call. Answer it with WhatsApp on your phone.", "Missed call.",
		"Incoming call. Answer it with WhatsApp on your phone.", "You answered the call on your phone.", "The call ended.",
		"Incoming video call. Answer it with WhatsApp on your phone.", "You declined the call on your phone.",
	}
	if got := callNotices(t, ctx, alice, dm); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("DM has call notices %q, want %q", got, want)
	}

	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Call group", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	groupRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, dm)
	if _, err = carol.CallGroup(group, true); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, groupRoom, noticeFrom(carolGhost, "Started a group video call. Join it with WhatsApp on your phone."))
	if got := callNotices(t, ctx, alice, dm); len(got) != len(want) {
		t.Errorf("DM has call notices %q after the group call, want %d", got, len(want))
	}
}

// TestCallAutoReply: with bridge.calls.notices off and an auto-reply set, a caller gets the text on
// WhatsApp and the room gets no call notice.
func TestCallAutoReply(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	const reply = "I can't take calls here, please write."
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.calls.notices", false)
		e2e.SetConfig(cfg, "bridge.calls.auto_reply", reply)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340003")
	carol, carolGhost := newContact(t, ctx, env, "4917600000031", "Carol")

	callID, err := carol.Call(alice.acct.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	answer := waitWAText(t, ctx, carol, reply)
	if answer.Info.Sender.User != alice.acct.JID().User && answer.Info.Sender.User != alice.acct.LID().User {
		t.Errorf("auto-reply came from %s, want Alice", answer.Info.Sender)
	}
	if err = carol.EndCall(alice.acct.JID(), callID, wasim.CallTimeout); err != nil {
		t.Fatal(err)
	}
	// Carol's next message creates the DM room; with notices off, no call notice may be in it.
	if _, err = carol.SendText(ctx, alice.acct.JID(), "Did you get my call?"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Did you get my call?"))
	if got := callNotices(t, ctx, alice, dm); len(got) != 0 {
		t.Errorf("call notices %q although bridge.calls.notices is off", got)
	}
	if n := countText(carol, reply); n != 1 {
		t.Errorf("Carol got the auto-reply %d times", n)
	}
}

func countText(c *wasim.Contact, text string) int {
	return c.Count(func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && wasim.MessageText(msg) == text
	})
}
