package wasim

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestReadSelfReachesCompanions checks that what the phone reads in a 1:1 chat reaches the account's
// linked device as a read-self receipt from the account itself, with the chat as recipient.
func TestReadSelfReachesCompanions(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := pairByQR(t, ctx, srv, acct)

	id, err := rosa.SendText(ctx, acct.JID(), "read me")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err = quinn.WaitMessage(ctx, textIs("read me")); err != nil {
		t.Fatalf("message never reached the companion: %v", err)
	}
	if err = acct.Phone().Client().MarkRead(ctx, []types.MessageID{id}, time.Now(), rosa.JID(), rosa.JID()); err != nil {
		t.Fatalf("phone failed to mark read: %v", err)
	}
	if _, err = quinn.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeReadSelf && r.IsFromMe && r.Chat.User == rosa.JID().User &&
			len(r.MessageIDs) == 1 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("companion got no read-self receipt: %v", err)
	}
	if _, err = rosa.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && !r.IsFromMe && len(r.MessageIDs) == 1 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("sender got no read receipt: %v", err)
	}
}
