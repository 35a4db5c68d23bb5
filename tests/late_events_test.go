package tests

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestLatePushedMatrixMessageKeepsOrder: the homeserver stops while its push of a Matrix message
// to the bridge is under way (held at a proxy in front of the bridge), so that message is not
// acknowledged. After the restart Dendrite pushes the next message at once and the first one
// only when its event stream redelivers it (30 s later), or, with its stream in memory, never.
// WhatsApp still gets both, in the order they were sent, once each.
func TestLatePushedMatrixMessageKeepsOrder(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{true, false} {
		name := "stream in memory"
		if persistent {
			name = "stream on disk"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newWAEnvWith(t, e2e.Options{TransactionGate: true, PersistentJetStream: persistent}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
			carol, _, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hello")
			send := func(text string) { sendText(t, ctx, alice.client, dm, text) }
			send("warm up")
			waitWAText(t, ctx, carol, "warm up")

			env.HoldTransactions(func(body []byte) bool { return containsText(body, "sent first") })
			send("sent first")
			waitFor(t, ctx, "the homeserver to push the first message", func() bool {
				return env.TransactionsContaining("sent first") > 0
			})
			env.StopDendrite() // the push is cut off: Dendrite has not had it acknowledged
			env.ReleaseTransactions()
			env.StartDendrite()
			send("sent second")
			waitWAText(t, ctx, carol, "sent second")
			want := []string{"sent first", "sent second"}
			if got := waTexts(carol, want); !slices.Equal(got, want) {
				t.Errorf("WhatsApp got %v, want %v", got, want)
			}
			if persistent {
				// The redelivery of the first message is a duplicate by then.
				waitFor(t, ctx, "the homeserver to push the first message again", func() bool {
					return env.TransactionsContaining("sent first") > 1
				})
			}
			send("sent third")
			waitWAText(t, ctx, carol, "sent third")
			want = append(want, "sent third")
			if got := waTexts(carol, want); !slices.Equal(got, want) {
				t.Errorf("in the end WhatsApp got %v, want %v, once each", got, want)
			}
		})
	}
}

// containsText reports whether a transaction body holds text as a JSON string.
func containsText(body []byte, text string) bool {
	return bytes.Contains(body, []byte(strconv.Quote(text)))
}

// waTexts lists, in arrival order, the texts among wanted that c received, repeats included.
func waTexts(c *wasim.Contact, wanted []string) []string {
	var out []string
	for _, evt := range c.All() {
		if msg, ok := evt.(*events.Message); ok && slices.Contains(wanted, wasim.MessageText(msg)) {
			out = append(out, wasim.MessageText(msg))
		}
	}
	return out
}
