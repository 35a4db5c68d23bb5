package wasim

import (
	"sync"
	"testing"
	"time"
)

// TestTapMessages: the tap sees a contact's message written to the companion's socket and the
// companion's answer read from it, by ID and device, in that order; nothing once it is removed.
func TestTapMessages(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	kim := pairByQR(t, ctx, srv, acct)

	var lock sync.Mutex
	var taps []MessageTap
	// Only Kim's companion: the copies of Kim's own messages for Kim's phone and Lea are tapped on
	// their connections at the same moment and may still be reported after the tap is removed.
	companion := kim.cli.Store.GetJID()
	srv.TapMessages(func(tap MessageTap) {
		if tap.Device != companion {
			return
		}
		lock.Lock()
		taps = append(taps, tap)
		lock.Unlock()
	})
	find := func(id string, out bool) (MessageTap, bool) {
		lock.Lock()
		defer lock.Unlock()
		for _, tap := range taps {
			if tap.ID == id && tap.Out == out {
				return tap, true
			}
		}
		return MessageTap{}, false
	}

	sent := time.Now()
	inID, err := lea.SendText(ctx, acct.JID(), "to kim")
	if err != nil {
		t.Fatalf("send from Lea failed: %v", err)
	}
	if _, err := kim.WaitMessage(ctx, textIs("to kim")); err != nil {
		t.Fatalf("message to Kim never arrived: %v", err)
	}
	in, ok := find(inID, true)
	if !ok {
		t.Fatalf("the tap saw no stanza %s written to Kim's companion: %+v", inID, taps)
	}
	if in.At.Before(sent) {
		t.Fatalf("tap of the delivery = %+v; want it after %s", in, sent)
	}

	resp, err := kim.cli.SendMessage(ctx, lea.JID(), textMessage("to lea"))
	if err != nil {
		t.Fatalf("send from Kim failed: %v", err)
	}
	out, ok := find(resp.ID, false)
	if !ok {
		t.Fatalf("the tap saw no stanza %s read from Kim's companion", resp.ID)
	}
	if !out.At.After(in.At) {
		t.Fatalf("Kim's message tapped at %s, before the message it answers (%s)", out.At, in.At)
	}

	srv.TapMessages(nil)
	lock.Lock()
	n := len(taps)
	lock.Unlock()
	if _, err := lea.SendText(ctx, acct.JID(), "untapped"); err != nil {
		t.Fatalf("send from Lea failed: %v", err)
	}
	if _, err := kim.WaitMessage(ctx, textIs("untapped")); err != nil {
		t.Fatalf("message to Kim never arrived: %v", err)
	}
	lock.Lock()
	defer lock.Unlock()
	if len(taps) != n {
		t.Fatalf("the removed tap saw %d more stanzas", len(taps)-n)
	}
}
