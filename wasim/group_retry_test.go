package wasim

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// A member that lost its session with the sender cannot read the SKDM of the next group message;
// its retry receipt must reach the sender, and the pairwise resend must reach that member only.
func TestGroupRetryReceiptResendsToOneDevice(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	pia := newContact(t, ctx, srv, "Pia")
	quin := newContact(t, ctx, srv, "Quin")
	rex := newContact(t, ctx, srv, "Rex")
	group, err := srv.CreateGroup(ctx, pia.Account(), "Retry", quin.Account(), rex.Account())
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	for who, log := range map[string]*EventLog{"Pia": pia.EventLog, "Quin": quin.EventLog, "Rex": rex.EventLog} {
		waitJoined(t, ctx, who, log, group)
	}
	if _, err = pia.SendText(ctx, group, "one"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Quin", quin.EventLog, group, "one", pia.Account(), false)
	waitGroupText(t, ctx, "Rex", rex.EventLog, group, "one", pia.Account(), false)

	if err = quin.Client().Store.Sessions.DeleteSession(ctx, pia.LID().SignalAddress().String()); err != nil {
		t.Fatalf("failed to delete session: %v", err)
	}
	id, err := pia.SendText(ctx, group, "two")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err = pia.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRetry && r.Chat == group && r.Sender.User == quin.LID().User &&
			len(r.MessageIDs) > 0 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("sender got no retry receipt from Quin: %v", err)
	}
	waitGroupText(t, ctx, "Quin", quin.EventLog, group, "two", pia.Account(), false)
	waitGroupText(t, ctx, "Rex", rex.EventLog, group, "two", pia.Account(), false)
	waitQueueEmpty(t, ctx, quin.Account(), 0)
	waitQueueEmpty(t, ctx, rex.Account(), 0)
	if n := countText(quin.EventLog, "two"); n != 1 {
		t.Fatalf("Quin got the resent message %d times", n)
	}
	if n := countText(rex.EventLog, "two"); n != 1 {
		t.Fatalf("Rex got the message %d times", n)
	}
	if n := pia.Count(func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRetry && r.Sender.User != quin.LID().User
	}); n != 0 {
		t.Fatalf("%d retry receipts came from members other than Quin", n)
	}
}
