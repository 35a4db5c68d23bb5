package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestDeletionAndTypingWhileTheChatIsBusy: while a chat keeps receiving messages, the bot's sync
// polls instead of long-polling (bridge/botsync.go); what Dendrite only gives the bridge through
// that sync, a deletion and typing made in Matrix, still reaches WhatsApp, and the messages flowing
// meanwhile all arrive.
func TestDeletionAndTypingWhileTheChatIsBusy(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300001")
	carol, carolGhost := newContact(t, ctx, env, "4917600300002", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "hello"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "hello"))
	// WhatsApp passes typing on only to a device that announced itself available.
	if err := carol.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}

	// Carol writes every 100 ms, well above the rate that makes the bot's sync poll (25 pushed
	// events in about 5 s), until the deletion and the typing reached her.
	busy := startBusyWriter(t, ctx, carol, alice.acct.JID())
	defer busy.Stop()
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "busy 5"))

	resp, err := alice.client.SendText(ctx, dm, "delete me")
	if err != nil {
		t.Fatal(err)
	}
	got := waitWAText(t, ctx, carol, "delete me")
	before := busy.Count()
	started := time.Now()
	if _, err = alice.client.RedactEvent(ctx, dm, resp.EventID); err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.UserTyping(ctx, dm, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	if _, err = carol.WaitMessage(waitCtx, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == got.Info.ID
	}); err != nil {
		t.Fatalf("deletion made while the chat was busy did not reach WhatsApp: %v", err)
	}
	if _, err = carol.WaitEvent(waitCtx, func(evt any) bool {
		p, ok := evt.(*events.ChatPresence)
		return ok && p.State == types.ChatPresenceComposing
	}); err != nil {
		t.Fatalf("typing while the chat was busy did not reach WhatsApp: %v", err)
	}
	t.Logf("deletion and typing reached WhatsApp %v after the deletion", time.Since(started).Round(time.Millisecond))

	// The traffic goes on past the deletion before it stops.
	for deadline := time.Now().Add(10 * time.Second); busy.Count() < before+2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	n := busy.Stop()
	// The chat kept flowing: its last message arrives too.
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, fmt.Sprintf("busy %d", n-1)))
}

// busyWriter has a WhatsApp contact write "busy 0", "busy 1", ... to a chat every 100 ms until Stop.
type busyWriter struct {
	stop  chan struct{}
	sent  chan int
	count atomic.Int32
	once  sync.Once
	n     int
}

// startBusyWriter starts c writing to chat; a failed send fails the test and ends the writing.
func startBusyWriter(t *testing.T, ctx context.Context, c *wasim.Contact, chat types.JID) *busyWriter {
	w := &busyWriter{stop: make(chan struct{}), sent: make(chan int, 1)}
	go func() {
		n := 0
		defer func() { w.sent <- n }()
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.SendText(ctx, chat, fmt.Sprintf("busy %d", n)); err != nil {
				t.Errorf("busy message %d: %v", n, err)
				return
			}
			n++
			w.count.Store(int32(n))
		}
	}()
	return w
}

// Count returns how many messages were sent so far.
func (w *busyWriter) Count() int { return int(w.count.Load()) }

// Stop ends the writing, waits for the send under way and returns how many messages were sent.
// Later calls return the same.
func (w *busyWriter) Stop() int {
	w.once.Do(func() {
		close(w.stop)
		w.n = <-w.sent
	})
	return w.n
}
