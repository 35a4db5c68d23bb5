package wasim

import (
	"context"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// undecryptableSetup is an account with a paired companion and a contact that already wrote once,
// and whose phone wrote to the contact once, so that the companion has Signal sessions with both
// (it can only ask the phone for a message over an existing session, whatsmeow sendPeerMessage).
// With synchronousAck the companion acknowledges as the bridge does, which makes whatsmeow ask the
// phone at once after a failed decryption too (sendRetryReceipt), not only for unavailable ones.
func undecryptableSetup(t *testing.T, synchronousAck bool) (context.Context, *Server, *Account, *Contact, *companion) {
	t.Helper()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := newCompanion(t, srv, "")
	quinn.cli.SynchronousAck = synchronousAck
	if err := quinn.cli.Connect(); err != nil {
		t.Fatalf("failed to connect companion: %v", err)
	}
	qr, err := quinn.WaitEvent(ctx, isType[*events.QR])
	if err != nil {
		t.Fatalf("no QR code: %v", err)
	}
	if err = acct.ScanQR(ctx, qr.(*events.QR).Codes[0]); err != nil {
		t.Fatalf("phone failed to scan QR: %v", err)
	}
	quinn.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, quinn, true)
	if _, err := rosa.SendText(ctx, acct.JID(), "first"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := quinn.WaitMessage(ctx, textIs("first")); err != nil {
		t.Fatalf("first message never arrived: %v", err)
	}
	if _, err := acct.Phone().SendText(ctx, rosa.JID(), "hello from the phone"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := quinn.WaitMessage(ctx, textIs("hello from the phone")); err != nil {
		t.Fatalf("the phone's own message never reached the companion: %v", err)
	}
	return ctx, srv, acct, rosa, quinn
}

func waitUndecryptable(t *testing.T, ctx context.Context, c *companion, id types.MessageID) *events.UndecryptableMessage {
	t.Helper()
	evt, err := c.WaitEvent(ctx, func(evt any) bool {
		u, ok := evt.(*events.UndecryptableMessage)
		return ok && u.Info.ID == id
	})
	if err != nil {
		t.Fatalf("no UndecryptableMessage for %s: %v", id, err)
	}
	return evt.(*events.UndecryptableMessage)
}

// A message delivered without ciphertext is reported unavailable; whatsmeow asks the phone for it,
// and the phone answers with the original, which arrives once, marked as the answer to a request.
func TestUnavailableMessageResentByPhone(t *testing.T) {
	t.Parallel()
	ctx, _, acct, rosa, quinn := undecryptableSetup(t, false)
	if err := acct.BreakNextMessage(rosa.JID(), Undecryptable{Kind: Unavailable}); err != nil {
		t.Fatal(err)
	}
	id, err := rosa.SendText(ctx, acct.JID(), "hidden")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if u := waitUndecryptable(t, ctx, quinn, id); !u.IsUnavailable {
		t.Fatalf("undecryptable message is not marked unavailable: %+v", u)
	}
	msg, err := quinn.WaitMessage(ctx, textIs("hidden"))
	if err != nil {
		t.Fatalf("the phone's resend never arrived: %v", err)
	}
	if msg.UnavailableRequestID == "" || msg.Info.ID != id || (msg.Info.Sender.User != rosa.JID().User && msg.Info.Sender.User != rosa.LID().User) {
		t.Fatalf("resend has request ID %q, ID %s, sender %s", msg.UnavailableRequestID, msg.Info.ID, msg.Info.Sender)
	}
	if _, err = acct.Phone().WaitMessage(ctx, textIs("hidden")); err != nil {
		t.Fatalf("the phone's own copy did not decrypt: %v", err)
	}
	if _, err = rosa.SendText(ctx, acct.JID(), "after"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err = quinn.WaitMessage(ctx, textIs("after")); err != nil {
		t.Fatalf("a later message did not arrive: %v", err)
	}
	if n := countText(quinn.EventLog, "hidden"); n != 1 {
		t.Fatalf("message arrived %d times", n)
	}
}

// A corrupted ciphertext fails to decrypt: the companion sends a retry receipt, and the sender's
// resend gets through.
func TestCorruptedCiphertextResentBySender(t *testing.T) {
	t.Parallel()
	ctx, _, acct, rosa, quinn := undecryptableSetup(t, false)
	if err := acct.BreakNextMessage(rosa.LID(), Undecryptable{Kind: Corrupted}); err != nil {
		t.Fatal(err)
	}
	id, err := rosa.SendText(ctx, acct.JID(), "garbled")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if u := waitUndecryptable(t, ctx, quinn, id); u.IsUnavailable {
		t.Fatalf("corrupted message is marked unavailable: %+v", u)
	}
	if _, err = rosa.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRetry && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("sender got no retry receipt: %v", err)
	}
	if _, err = quinn.WaitMessage(ctx, textIs("garbled")); err != nil {
		t.Fatalf("the sender's resend never arrived: %v", err)
	}
	waitQueueEmpty(t, ctx, acct, quinn.cli.Store.ID.Device)
	if n := countText(quinn.EventLog, "garbled"); n != 1 {
		t.Fatalf("message arrived %d times", n)
	}
}

// When neither the phone has the message nor the sender comes back, the resend never comes; later
// messages still arrive.
func TestUndecryptableSenderStaysOffline(t *testing.T) {
	t.Parallel()
	ctx, _, acct, rosa, quinn := undecryptableSetup(t, true)
	err := acct.BreakNextMessage(rosa.JID(), Undecryptable{Kind: Corrupted, Phone: true, SenderOffline: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := rosa.SendText(ctx, acct.JID(), "lost")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitUndecryptable(t, ctx, quinn, id)
	answer, err := acct.Phone().WaitEvent(ctx, isType[*ResendAnswer])
	if err != nil {
		t.Fatalf("the phone never dealt with a resend request: %v", err)
	} else if found := answer.(*ResendAnswer).Found; len(found) != 0 {
		t.Fatalf("the phone answered with %v although its copy was broken too", found)
	}
	if _, err = rosa.SendText(ctx, acct.JID(), "later"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err = quinn.WaitMessage(ctx, textIs("later")); err != nil {
		t.Fatalf("a later message did not arrive: %v", err)
	}
	waitQueueEmpty(t, ctx, acct, quinn.cli.Store.ID.Device)
	if n := countText(quinn.EventLog, "lost"); n != 0 {
		t.Fatalf("the message arrived %d times although nobody could resend it", n)
	}
	// Retry receipts for the lost message never reach the offline sender. (Others may: under load
	// a later message can need one of its own.)
	if n := rosa.Count(func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRetry && slices.Contains(r.MessageIDs, id)
	}); n != 0 {
		t.Fatalf("the offline sender got %d retry receipts for the lost message", n)
	}
}

// In a group, an unavailable message is resent by the phone with its group sender, and the
// sender's next message still arrives (whatsmeow re-requests the sender key it missed).
func TestUnavailableGroupMessageResentByPhone(t *testing.T) {
	t.Parallel()
	ctx, srv, acct, rosa, quinn := undecryptableSetup(t, false)
	group, err := srv.CreateGroup(ctx, rosa.Account(), "Resends", acct)
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "companion", quinn.EventLog, group)
	if _, err = rosa.SendText(ctx, group, "group first"); err != nil {
		t.Fatal(err)
	}
	waitGroupText(t, ctx, "companion", quinn.EventLog, group, "group first", rosa.Account(), false)
	if err = acct.BreakNextMessage(rosa.LID(), Undecryptable{Kind: Unavailable}); err != nil {
		t.Fatal(err)
	}
	id, err := rosa.SendText(ctx, group, "group hidden")
	if err != nil {
		t.Fatal(err)
	}
	if u := waitUndecryptable(t, ctx, quinn, id); !u.IsUnavailable || u.Info.Chat != group {
		t.Fatalf("undecryptable message %+v", u.Info)
	}
	msg := waitGroupText(t, ctx, "companion", quinn.EventLog, group, "group hidden", rosa.Account(), false)
	if msg.UnavailableRequestID == "" || msg.Info.ID != id {
		t.Fatalf("resend has request ID %q and ID %s", msg.UnavailableRequestID, msg.Info.ID)
	}
	if _, err = rosa.SendText(ctx, group, "group after"); err != nil {
		t.Fatal(err)
	}
	waitGroupText(t, ctx, "companion", quinn.EventLog, group, "group after", rosa.Account(), false)
	if n := countText(quinn.EventLog, "group hidden"); n != 1 {
		t.Fatalf("message arrived %d times", n)
	}
}
