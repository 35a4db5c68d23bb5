package wasim

import (
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

// A companion that lost its Signal session cannot decrypt the contact's next message; its retry
// receipt must reach the sender, whose resend (a fresh pkmsg for that one device) must get through.
func TestRetryReceiptAfterLostSession(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := pairByQR(t, ctx, srv, acct)

	if _, err := rosa.SendText(ctx, acct.JID(), "first"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := quinn.WaitMessage(ctx, textIs("first")); err != nil {
		t.Fatalf("first message never arrived: %v", err)
	}
	if err := quinn.cli.Store.Sessions.DeleteSession(ctx, rosa.LID().SignalAddress().String()); err != nil {
		t.Fatalf("failed to delete session: %v", err)
	}
	id, err := rosa.SendText(ctx, acct.JID(), "after session loss")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err = rosa.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == "retry" && len(r.MessageIDs) > 0 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("sender got no retry receipt: %v", err)
	}
	if _, err = quinn.WaitMessage(ctx, textIs("after session loss")); err != nil {
		t.Fatalf("resent message never arrived: %v", err)
	}
	waitQueueEmpty(t, ctx, acct, quinn.cli.Store.ID.Device)
	if n := countText(quinn.EventLog, "after session loss"); n != 1 {
		t.Fatalf("message arrived %d times", n)
	}
}

// A phone answers a retry receipt for a message it sent long ago, as real phones do from their
// message database: the companion was offline, lost its session, and by the time it asks, the
// sender has sent more messages than whatsmeow keeps in memory for retries (256).
func TestRetryReceiptForAnOldMessage(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	sam := newContact(t, ctx, srv, "Sam")
	quinn := pairByQR(t, ctx, srv, acct)

	if _, err := rosa.SendText(ctx, acct.JID(), "first"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := quinn.WaitMessage(ctx, textIs("first")); err != nil {
		t.Fatalf("first message never arrived: %v", err)
	}
	quinn.cli.Disconnect()
	if err := quinn.cli.Store.Sessions.DeleteSession(ctx, rosa.LID().SignalAddress().String()); err != nil {
		t.Fatalf("failed to delete session: %v", err)
	}
	if _, err := rosa.SendText(ctx, acct.JID(), "sent long ago"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	for i := range 300 {
		if _, err := rosa.SendText(ctx, sam.JID(), fmt.Sprintf("to Sam %d", i)); err != nil {
			t.Fatalf("send %d to Sam failed: %v", i, err)
		}
	}
	if err := quinn.cli.Connect(); err != nil {
		t.Fatalf("reconnect failed: %v", err)
	}
	if _, err := quinn.WaitMessage(ctx, textIs("sent long ago")); err != nil {
		t.Fatalf("the message never arrived after the retry receipt: %v", err)
	}
}
