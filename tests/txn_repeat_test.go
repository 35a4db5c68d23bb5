package tests

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
)

// TestTransactionRepeatedWithNewEvents: the bridge stores a pushed transaction but its answer is
// lost (a proxy answers the homeserver 502, as when the bridge is killed right after storing it).
// Dendrite backs off and pushes the transaction again under the same ID, now together with the
// messages sent meanwhile: its transaction ID is the stream timestamp of the batch's first event,
// not a name for a fixed set of events. WhatsApp gets every message, once each and in order.
func TestTransactionRepeatedWithNewEvents(t *testing.T) {
	t.Parallel()
	env := newWAEnvWith(t, e2e.Options{TransactionGate: true}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, _, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hello")
	send := func(text string) { sendText(t, ctx, alice.client, dm, text) }
	send("warm up")
	waitWAText(t, ctx, carol, "warm up")

	env.LoseAnswer(func(body []byte) bool { return containsText(body, "answer lost") })
	send("answer lost")
	waitFor(t, ctx, "the bridge's answer to the first push to be lost", func() bool { return env.AnswersLost() == 1 })
	// Dendrite waits 2 s before it pushes again; these are in its stream by then.
	send("sent during the back-off")
	send("sent last")
	waitWAText(t, ctx, carol, "sent last")
	want := []string{"answer lost", "sent during the back-off", "sent last"}
	if got := waTexts(carol, want); !slices.Equal(got, want) {
		t.Errorf("WhatsApp got %v, want %v, once each", got, want)
	}

	// What the test stands on: the repeat carried the later messages under the first's ID.
	var firstID string
	repeated := false
	for _, push := range env.TransactionPushes() {
		if firstID == "" && containsText(push.Body, "answer lost") {
			firstID = push.ID
		} else if push.ID == firstID && bytes.Contains(push.Body, []byte("sent during the back-off")) {
			repeated = true
		}
	}
	if !repeated {
		t.Errorf("the homeserver did not push transaction %q again with the message sent meanwhile; pushes: %d", firstID, len(env.TransactionPushes()))
	}
}
