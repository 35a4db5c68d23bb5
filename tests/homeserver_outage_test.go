package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestHomeserverOutage: WhatsApp messages that arrive while the homeserver is down are kept (not
// acknowledged to WhatsApp, retried) and appear in Matrix in order, once each, when it is back.
func TestHomeserverOutage(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "before the outage"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "before the outage"))

	env.StopDendrite()
	var sent []string
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("during the outage %d", i)
		if _, err := carol.SendText(ctx, alice.acct.JID(), text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	waitFor(t, ctx, "the bridge to notice the homeserver is down", func() bool {
		data, _ := os.ReadFile(env.BridgeLogPath())
		return strings.Contains(string(data), "Failed to bridge WhatsApp message, retrying")
	})
	env.StartDendrite()

	found := env.WaitForMessages(ctx, alice.client, dm, 3, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && strings.HasPrefix(evt.Content.AsMessage().Body, "during the outage")
	})
	var got []string
	for _, evt := range found {
		got = append(got, evt.Content.AsMessage().Body)
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Errorf("after the outage Matrix shows %v, want %v in order, once each", got, sent)
	}
}
