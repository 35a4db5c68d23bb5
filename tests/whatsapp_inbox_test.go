package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// waitDelivered waits until the contact got the delivery receipt of the bridge's device (the
// companion, not the phone) for msgID, and fails after within.
func waitDelivered(t *testing.T, ctx context.Context, contact *wasim.Contact, companion uint16, msgID types.MessageID, within time.Duration) {
	t.Helper()
	waitCtx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if _, err := contact.WaitEvent(waitCtx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && (r.Type == types.ReceiptTypeDelivered || r.Type == types.ReceiptTypeInactive) &&
			r.Sender.Device == companion && len(r.MessageIDs) > 0 && r.MessageIDs[0] == msgID
	}); err != nil {
		t.Fatalf("WhatsApp did not get the bridge's acknowledgement of %s within %s: %v", msgID, within, err)
	}
}

// countInLog counts the lines of the bridge's log that contain text.
func countInLog(t *testing.T, env *waEnv, text string) int {
	t.Helper()
	data, err := os.ReadFile(env.BridgeLogPath())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), text)
}

// TestWhatsAppAckedDuringHomeserverOutage: while the homeserver is down, the bridge still
// acknowledges WhatsApp messages at once (the contact sees them delivered to the bridge's device),
// because it keeps them in its own inbox. The bridge then crashes, more messages wait at WhatsApp,
// and the bridge restarts while the homeserver is still down: once the homeserver is back, every
// message appears in Matrix once, in the order it was sent.
func TestWhatsAppAckedDuringHomeserverOutage(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	companion := companionDevice(t, alice.acct)
	carol, carolGhost, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "before the outage")

	env.StopDendrite()
	var sent []string
	send := func(text string) types.MessageID {
		msgID, err := carol.SendText(ctx, alice.acct.JID(), text)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
		return msgID
	}
	for i := 1; i <= 3; i++ {
		msgID := send(fmt.Sprintf("during the outage %d", i))
		// The old way (acknowledge only once Matrix has it) would hold this until the homeserver
		// is back; the inbox acknowledges as soon as the message is stored.
		waitDelivered(t, ctx, carol, companion, msgID, 30*time.Second)
	}

	// A crash with the three messages stored and not bridged; two more wait at WhatsApp.
	env.KillBridge()
	send("while the bridge is down 1")
	send("while the bridge is down 2")
	registering := countInLog(t, env, "Failed to register bot user, retrying")
	env.StartBridgeDuring(func() {
		waitFor(t, ctx, "the restarted bridge to find the homeserver down", func() bool {
			return countInLog(t, env, "Failed to register bot user, retrying") > registering
		})
		env.StartDendrite()
	})

	found := env.WaitForMessages(ctx, alice.client, dm, len(sent), func(evt *event.Event) bool {
		body := evt.Content.AsMessage().Body
		return evt.Sender == carolGhost && (strings.HasPrefix(body, "during the outage") || strings.HasPrefix(body, "while the bridge is down"))
	})
	var got []string
	for _, evt := range found {
		got = append(got, evt.Content.AsMessage().Body)
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("after the outage and the crash Matrix shows %v, want %v in order, once each", got, sent)
	}
	// The rows stored before the crash were looked for in the room before they were sent, and
	// waited for: the crashed process may have sent them.
	if countInLog(t, env, earlierProcessLine) == 0 {
		t.Errorf("after a crash the bridge sent the stored messages without looking for them in the room (no %q in its log)", earlierProcessLine)
	}
	// Nothing more comes: one more message arrives right behind them, and no copy in between.
	send("after everything")
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "after everything"))
	if texts := ghostTexts(t, ctx, alice, dm, carolGhost); fmt.Sprint(texts) != fmt.Sprint(append([]string{"before the outage"}, sent...)) {
		t.Errorf("the room shows %v from the contact, want each message once, in order", texts)
	}
}

// earlierProcessLine is what the bridge logs when it waits for a stored WhatsApp event an earlier
// process may have sent to show up in its room, before it sends it itself.
const earlierProcessLine = "An earlier process may have sent this WhatsApp event"

// TestCleanStopDoesNotDelayPendingMessages: WhatsApp messages stored during a homeserver outage are
// still pending when the bridge is stopped cleanly. After the restart they arrive once each, in
// order, without the wait a crash calls for: the stop recorded that no request for them could still
// be on its way into the room.
func TestCleanStopDoesNotDelayPendingMessages(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	companion := companionDevice(t, alice.acct)
	carol, carolGhost, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "before the outage")

	env.StopDendrite()
	retrying := countInLog(t, env, "Failed to bridge WhatsApp message, retrying")
	sent := []string{"during the outage 1", "during the outage 2"}
	for _, text := range sent {
		msgID, err := carol.SendText(ctx, alice.acct.JID(), text)
		if err != nil {
			t.Fatal(err)
		}
		waitDelivered(t, ctx, carol, companion, msgID, 30*time.Second)
	}
	// The bridge tried the first one and was refused a connection; the second waits behind it.
	waitFor(t, ctx, "the bridge to try the first message", func() bool {
		return countInLog(t, env, "Failed to bridge WhatsApp message, retrying") > retrying
	})
	env.StopBridge()
	env.StartDendrite()
	env.StartBridge()

	found := env.WaitForMessages(ctx, alice.client, dm, len(sent), func(evt *event.Event) bool {
		return evt.Sender == carolGhost && strings.HasPrefix(evt.Content.AsMessage().Body, "during the outage")
	})
	var got []string
	for _, evt := range found {
		got = append(got, evt.Content.AsMessage().Body)
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("after the clean stop Matrix shows %v, want %v in order, once each", got, sent)
	}
	if n := countInLog(t, env, earlierProcessLine); n != 0 {
		t.Errorf("after a clean stop the bridge waited for %d stored messages an earlier process could not have sent in the meantime", n)
	}
	if texts := ghostTexts(t, ctx, alice, dm, carolGhost); fmt.Sprint(texts) != fmt.Sprint(append([]string{"before the outage"}, sent...)) {
		t.Errorf("the room shows %v from the contact, want each message once, in order", texts)
	}
}

// ghostTexts lists the bodies of ghost's messages in the room, oldest first.
func ghostTexts(t *testing.T, ctx context.Context, user *loggedInUser, room id.RoomID, ghost id.UserID) []string {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, user.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, evt := range timeline {
		if evt.Sender == ghost && evt.Type == event.EventMessage {
			texts = append(texts, evt.Content.AsMessage().Body)
		}
	}
	return texts
}

// TestWhatsAppMessageRefusedByHomeserver: a message the homeserver refuses for good (here
// M_FORBIDDEN: the contact's ghost may no longer post in the room) becomes a notice in the room
// saying what could not be bridged, is not retried, and the chat's next message arrives.
func TestWhatsAppMessageRefusedByHomeserver(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hello")

	// The ghost gives up its power and messages need more than it has left.
	ghost, bot := env.AppserviceClient(t, carolGhost), env.AppserviceClient(t, env.BotMXID())
	var original event.PowerLevelsEventContent
	if err := bot.StateEvent(ctx, dm, event.StatePowerLevels, "", &original); err != nil {
		t.Fatal(err)
	}
	restricted := original.Clone()
	restricted.SetUserLevel(carolGhost, 0)
	restricted.SetEventLevel(event.EventMessage, 50)
	if _, err := ghost.SendStateEvent(ctx, dm, event.StatePowerLevels, "", restricted); err != nil {
		t.Fatal(err)
	}

	const refused = "a message the homeserver refuses"
	if _, err := carol.SendText(ctx, alice.acct.JID(), refused); err != nil {
		t.Fatal(err)
	}
	notice := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		msg := evt.Content.AsMessage()
		return evt.Sender == env.BotMXID() && msg.MsgType == event.MsgNotice && strings.Contains(msg.Body, "could not be bridged")
	})
	body := notice.Content.AsMessage().Body
	if !strings.Contains(body, "Carol") || !strings.Contains(body, "M_FORBIDDEN") {
		t.Errorf("the notice %q does not say whose message failed and why", body)
	}

	// The ghost may post again: a retry of the refused message would now get through, so its
	// absence below shows it was given up, and the next message flows.
	if _, err := bot.SendStateEvent(ctx, dm, event.StatePowerLevels, "", &original); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SendText(ctx, alice.acct.JID(), "the next message"); err != nil {
		t.Fatal(err)
	}
	next := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "the next message"))
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if evt.ID == next.ID {
			t.Errorf("the next message is shown before the notice about the refused one")
		}
		if evt.ID == notice.ID {
			break
		}
	}
	if _, err := carol.SendText(ctx, alice.acct.JID(), "and one more"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "and one more"))
	if texts := ghostTexts(t, ctx, alice, dm, carolGhost); fmt.Sprint(texts) != fmt.Sprint([]string{"hello", "the next message", "and one more"}) {
		t.Errorf("the room shows %v from the contact; the refused message must not come back after all", texts)
	}
}
