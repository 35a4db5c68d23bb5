package wasim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
)

// TestConcurrentSendAndReceiveLoseNothing streams messages both ways between a linked companion
// and a contact at the same time. whatsmeow decrypts an incoming message and encrypts an outgoing
// one for the same Signal session without a common lock; a lost update of the session's sending
// chain makes the next message reuse a counter, which the receiving side drops as "received
// message with old counter". Every message must arrive, on both sides: with sessions set up
// before, and when the first messages of the two sides cross (each side then starts a session of
// its own, and retry receipts sort it out).
func TestConcurrentSendAndReceiveLoseNothing(t *testing.T) {
	t.Parallel()
	t.Run("established", func(t *testing.T) { t.Parallel(); streamBothWays(t, true) })
	t.Run("first messages cross", func(t *testing.T) { t.Parallel(); streamBothWays(t, false) })
}

func streamBothWays(t *testing.T, establish bool) {
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Hana")
	ivo := newContact(t, ctx, srv, "Ivo")
	hana := pairByQR(t, ctx, srv, acct)
	if establish {
		establishSessions(t, ctx, ivo, hana, acct)
	}
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := ivo.SendText(ctx, acct.JID(), fmt.Sprintf("to hana %d", i)); err != nil {
				errs <- fmt.Errorf("contact's send %d: %w", i, err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := hana.cli.SendMessage(ctx, ivo.JID(), textMessage(fmt.Sprintf("to ivo %d", i))); err != nil {
				errs <- fmt.Errorf("companion's send %d: %w", i, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	missing := func(log *EventLog, prefix string) []int {
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := map[string]bool{}
			log.Count(func(evt any) bool {
				if m, ok := evt.(*events.Message); ok {
					if text := m.Message.GetConversation(); strings.HasPrefix(text, prefix) {
						got[text] = true
					}
				}
				return false
			})
			var lost []int
			for i := range n {
				if !got[fmt.Sprintf("%s%d", prefix, i)] {
					lost = append(lost, i)
				}
			}
			if len(lost) == 0 || time.Now().After(deadline) {
				return lost
			}
			select {
			case <-ctx.Done():
				return lost
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if lost := missing(hana.EventLog, "to hana "); len(lost) > 0 {
		t.Errorf("companion never got messages %v of %d", lost, n)
	}
	if lost := missing(ivo.EventLog, "to ivo "); len(lost) > 0 {
		t.Errorf("contact never got messages %v of %d", lost, n)
	}
}

// establishSessions exchanges one message each way, so that both sides hold a session.
func establishSessions(t *testing.T, ctx context.Context, ivo *Contact, hana *companion, acct *Account) {
	t.Helper()
	if _, err := ivo.SendText(ctx, acct.JID(), "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := hana.WaitMessage(ctx, textIs("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := hana.cli.SendMessage(ctx, ivo.JID(), textMessage("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := ivo.WaitMessage(ctx, textIs("hi")); err != nil {
		t.Fatal(err)
	}
}
