package wasim

import (
	"testing"

	"go.mau.fi/whatsmeow"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestQRPairingAndTextBothWays(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Alice")
	bob := newContact(t, ctx, srv, "Bob")
	alice := pairByQR(t, ctx, srv, acct)

	if got := alice.cli.Store.ID; got == nil || got.User != acct.JID().User || got.Device == 0 {
		t.Fatalf("companion ID = %v, want a device of %s", got, acct.JID())
	}
	if got := alice.cli.Store.LID.User; got != acct.LID().User {
		t.Fatalf("companion LID user = %s, want %s", got, acct.LID().User)
	}

	// Companion -> contact, by phone number. The companion announces its push name first, as
	// WhatsApp needs for the name to appear on its messages.
	if err := alice.cli.SendPresence(ctx, types.PresenceUnavailable); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.cli.SendMessage(ctx, bob.JID(), textMessage("hello bob")); err != nil {
		t.Fatalf("companion send failed: %v", err)
	}
	msg, err := bob.WaitMessage(ctx, textIs("hello bob"))
	if err != nil {
		t.Fatalf("bob did not get the message: %v", err)
	}
	if msg.Info.IsFromMe || msg.Info.Sender.User != acct.LID().User || msg.Info.PushName != "Alice" {
		t.Fatalf("bob's message info = %+v", msg.Info.MessageSource)
	}
	// The companion's own send reaches the phone as a device-sent copy.
	own, err := acct.Phone().WaitMessage(ctx, textIs("hello bob"))
	if err != nil {
		t.Fatalf("phone did not get the companion's copy: %v", err)
	}
	if !own.Info.IsFromMe || own.Info.Chat.User != bob.LID().User {
		t.Fatalf("phone's copy info = %+v", own.Info.MessageSource)
	}

	// Contact -> companion.
	if _, err = bob.SendText(ctx, acct.JID(), "hi alice"); err != nil {
		t.Fatalf("bob send failed: %v", err)
	}
	reply, err := alice.WaitMessage(ctx, textIs("hi alice"))
	if err != nil {
		t.Fatalf("companion did not get the reply: %v", err)
	}
	if reply.Info.IsFromMe || reply.Info.Sender.User != bob.LID().User {
		t.Fatalf("reply info = %+v", reply.Info.MessageSource)
	}

	// The user's own phone -> contact: the companion sees it as sent by itself.
	if _, err = acct.Phone().SendText(ctx, bob.JID(), "sent from my phone"); err != nil {
		t.Fatalf("phone send failed: %v", err)
	}
	fromPhone, err := alice.WaitMessage(ctx, textIs("sent from my phone"))
	if err != nil {
		t.Fatalf("companion did not get the phone's message: %v", err)
	}
	if !fromPhone.Info.IsFromMe || fromPhone.Info.Chat.User != bob.LID().User || fromPhone.Info.Sender.Device != 0 {
		t.Fatalf("phone message info = %+v", fromPhone.Info.MessageSource)
	}
	if _, err = bob.WaitMessage(ctx, textIs("sent from my phone")); err != nil {
		t.Fatalf("bob did not get the phone's message: %v", err)
	}
	// Delivery receipts come back to the sender.
	if _, err = alice.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type != "retry" && r.Sender.User == bob.LID().User
	}); err != nil {
		t.Fatalf("companion got no delivery receipt: %v", err)
	}
}

func TestPairingCode(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Carol")
	carol := newCompanion(t, srv, "")
	if err := carol.cli.Connect(); err != nil {
		t.Fatalf("failed to connect: %v", err)
	}
	if _, err := carol.WaitEvent(ctx, isType[*events.QR]); err != nil {
		t.Fatalf("no QR event: %v", err)
	}
	if _, err := carol.cli.PairPhone(ctx, "+"+acct.JID().User, true, whatsmeow.PairClientChrome, "Chrome (Linux)"); err != nil {
		t.Fatalf("PairPhone failed: %v", err)
	}
	if err := acct.EnterPairingCode(ctx, "ZZZZ-ZZZZ"); err == nil {
		t.Fatal("a wrong pairing code was accepted")
	}
	// The failed attempt used up the request; the client asks again.
	code, err := carol.cli.PairPhone(ctx, "+"+acct.JID().User, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		t.Fatalf("second PairPhone failed: %v", err)
	}
	if err = acct.EnterPairingCode(ctx, code); err != nil {
		t.Fatalf("phone rejected the pairing code: %v", err)
	}
	carol.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, carol, true)
	if got := carol.cli.Store.ID; got == nil || got.User != acct.JID().User {
		t.Fatalf("paired ID = %v", got)
	}
	if len(acct.Devices()) != 2 {
		t.Fatalf("account devices = %v, want phone and companion", acct.Devices())
	}
}
