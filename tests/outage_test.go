package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestNothingLostInOutages: messages sent from Matrix while WhatsApp is down wait (across a bridge
// restart), the room says once that they are pending (not again after the restart), and they arrive in order exactly once when WhatsApp is
// back; messages sent on WhatsApp while the bridge is down arrive exactly once when it is back.
func TestNothingLostInOutages(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hi")
	device := companionDevice(t, alice.acct)

	// WhatsApp goes down; the user keeps writing, and the bridge restarts meanwhile.
	env.WA.SetOutage(true)
	waitFor(t, ctx, "the bridge to lose its connection", func() bool { return !alice.acct.Online(device) })
	var queued []string
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("queued %d", i)
		if _, err := alice.client.SendText(ctx, dm, text); err != nil {
			t.Fatal(err)
		}
		queued = append(queued, text)
	}
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "WhatsApp is not reachable right now"))
	env.RestartBridge()
	if _, err := alice.client.SendText(ctx, dm, "queued 4"); err != nil {
		t.Fatal(err)
	}
	queued = append(queued, "queued 4")
	// The restarted bridge tries the waiting messages at once; the room was told already.
	time.Sleep(3 * time.Second)
	env.WA.SetOutage(false)

	for _, text := range queued {
		waitWAText(t, ctx, carol, text)
	}
	order := receivedOrder(carol, queued)
	if fmt.Sprint(order) != fmt.Sprint(queued) {
		t.Errorf("WhatsApp received %v, want %v in order, once each", order, queued)
	}
	events, err := e2e.Timeline(ctx, alice.client, dm, 100)
	if err != nil {
		t.Fatal(err)
	}
	notices := 0
	for _, evt := range events {
		if botNotice(env.Env, "WhatsApp is not reachable right now")(evt) {
			notices++
		}
	}
	if notices != 1 {
		t.Errorf("the room was told %d times that messages are pending, want once", notices)
	}

	// The bridge goes down; the contact keeps writing.
	env.StopBridge()
	var offline []string
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("while you were away %d", i)
		if _, err := carol.SendText(ctx, alice.acct.JID(), text); err != nil {
			t.Fatal(err)
		}
		offline = append(offline, text)
	}
	env.StartBridge()
	found := env.WaitForMessages(ctx, alice.client, dm, 3, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && len(evt.Content.AsMessage().Body) > 19 && evt.Content.AsMessage().Body[:19] == "while you were away"
	})
	var got []string
	for _, evt := range found {
		got = append(got, evt.Content.AsMessage().Body)
	}
	if fmt.Sprint(got) != fmt.Sprint(offline) {
		t.Errorf("Matrix shows %v, want %v in order, once each", got, offline)
	}
}

// receivedOrder lists, in arrival order, the texts of wanted that the contact received (repeats
// included, so a duplicate shows).
func receivedOrder(c *wasim.Contact, wanted []string) []string {
	want := make(map[string]bool, len(wanted))
	for _, text := range wanted {
		want[text] = true
	}
	var out []string
	for _, evt := range c.All() {
		if msg, ok := evt.(*events.Message); ok && want[wasim.MessageText(msg)] {
			out = append(out, wasim.MessageText(msg))
		}
	}
	return out
}

// TestMessagesWaitForReconnect: after the user's own `disconnect`, a message sent from Matrix waits,
// the room is told that it goes out after `reconnect` (not that WhatsApp is unreachable), and it
// arrives once the user reconnects.
func TestMessagesWaitForReconnect(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340091")
	carol, _, dm := openDMSaying(t, ctx, env, alice, "4917600000091", "Carol", "hi")
	device := companionDevice(t, alice.acct)

	sendText(t, ctx, alice.client, alice.room, "disconnect")
	waitFor(t, ctx, "the bridge to disconnect", func() bool { return !alice.acct.Online(device) })
	sendText(t, ctx, alice.client, dm, "after the disconnect")
	env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "You are disconnected from WhatsApp (you sent `disconnect`)", "`!wa reconnect`"))
	sendText(t, ctx, alice.client, alice.room, "reconnect")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Reconnected to WhatsApp."))
	waitWAText(t, ctx, carol, "after the disconnect")
}
