package wasim

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestReconnectWithStoredSession(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Dana")
	eve := newContact(t, ctx, srv, "Eve")
	first := pairByQR(t, ctx, srv, acct)
	id := *first.cli.Store.ID
	first.cli.Disconnect()
	_ = first.container.Close()

	// A new process: same store file, new client, wired the way an external process is (TLS to
	// the simulator's address, trusting its CA).
	again := newCompanion(t, srv, first.path)
	tlsClient := srv.TLSHTTPClient()
	again.cli.SetWebsocketHTTPClient(tlsClient)
	again.cli.SetPreLoginHTTPClient(tlsClient)
	again.cli.SetMediaHTTPClient(tlsClient)
	if again.cli.Store.ID == nil || *again.cli.Store.ID != id {
		t.Fatalf("stored ID = %v, want %v", again.cli.Store.ID, id)
	}
	if err := again.cli.Connect(); err != nil {
		t.Fatalf("reconnect failed: %v", err)
	}
	again.waitConnected(t, ctx, 0)
	if _, err := eve.SendText(ctx, acct.JID(), "after reconnect"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := again.WaitMessage(ctx, textIs("after reconnect")); err != nil {
		t.Fatalf("reconnected client did not get the message: %v", err)
	}
	if _, err := again.cli.SendMessage(ctx, eve.JID(), textMessage("still me")); err != nil {
		t.Fatalf("reconnected client could not send: %v", err)
	}
	if _, err := eve.WaitMessage(ctx, textIs("still me")); err != nil {
		t.Fatalf("contact did not get the message: %v", err)
	}
}

func TestTypingAndReadReceipts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Finn")
	gina := newContact(t, ctx, srv, "Gina")
	finn := pairByQR(t, ctx, srv, acct)
	// Typing passes only between clients that announced themselves available.
	setAvailable(t, ctx, gina)
	finn.announceAvailable(t, ctx, acct)

	if err := gina.Client().SendChatPresence(ctx, acct.JID(), types.ChatPresenceComposing, ""); err != nil {
		t.Fatalf("chat presence failed: %v", err)
	}
	if _, err := finn.WaitEvent(ctx, func(evt any) bool {
		cp, ok := evt.(*events.ChatPresence)
		return ok && cp.State == types.ChatPresenceComposing && cp.Chat.User == gina.JID().User
	}); err != nil {
		t.Fatalf("companion saw no typing: %v", err)
	}
	if err := finn.cli.SendChatPresence(ctx, gina.LID(), types.ChatPresencePaused, ""); err != nil {
		t.Fatalf("chat presence failed: %v", err)
	}
	if _, err := gina.WaitEvent(ctx, func(evt any) bool {
		cp, ok := evt.(*events.ChatPresence)
		return ok && cp.State == types.ChatPresencePaused && cp.Chat.User == acct.LID().User
	}); err != nil {
		t.Fatalf("contact saw no paused state: %v", err)
	}

	id, err := gina.SendText(ctx, acct.JID(), "read me")
	if err != nil {
		t.Fatalf("send failed: %v", err)
	}
	msg, err := finn.WaitMessage(ctx, textIs("read me"))
	if err != nil {
		t.Fatalf("companion did not get the message: %v", err)
	}
	if err = finn.cli.MarkRead(ctx, []types.MessageID{id}, msg.Info.Timestamp, msg.Info.Chat, msg.Info.Sender); err != nil {
		t.Fatalf("MarkRead failed: %v", err)
	}
	if _, err = gina.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && len(r.MessageIDs) > 0 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("contact got no read receipt: %v", err)
	}
}

func TestLogoutFromCompanion(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Hana")
	ivan := newContact(t, ctx, srv, "Ivan")
	keep := pairByQR(t, ctx, srv, acct)
	leaving := pairByQR(t, ctx, srv, acct)
	// Ivan learns Hana's three devices.
	if _, err := ivan.SendText(ctx, acct.JID(), "to all three"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	for _, c := range []*companion{keep, leaving} {
		if _, err := c.WaitMessage(ctx, textIs("to all three")); err != nil {
			t.Fatalf("companion missed the message: %v", err)
		}
	}
	leavingID := leaving.cli.Store.ID.Device
	if err := leaving.cli.Logout(ctx); err != nil {
		t.Fatalf("Logout failed: %v", err)
	}
	if leaving.cli.Store.ID != nil {
		t.Fatalf("store still has ID %v after logout", leaving.cli.Store.ID)
	}
	for _, d := range acct.Devices() {
		if d.Device == leavingID {
			t.Fatalf("server still lists device %d", leavingID)
		}
	}
	if _, err := ivan.SendText(ctx, acct.JID(), "after logout"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := keep.WaitMessage(ctx, textIs("after logout")); err != nil {
		t.Fatalf("remaining companion missed the message: %v", err)
	}
	if n := countText(leaving.EventLog, "after logout"); n != 0 {
		t.Fatalf("logged-out companion got %d messages", n)
	}
}

func TestRemoveDeviceFromPhone(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Jo")
	online := pairByQR(t, ctx, srv, acct)
	offline := pairByQR(t, ctx, srv, acct)

	if err := acct.RemoveDevice(ctx, online.cli.Store.ID.Device); err != nil {
		t.Fatalf("RemoveDevice failed: %v", err)
	}
	evt, err := online.WaitEvent(ctx, isType[*events.LoggedOut])
	if err != nil {
		t.Fatalf("online device was not logged out: %v", err)
	}
	if evt.(*events.LoggedOut).OnConnect {
		t.Fatal("online removal reported OnConnect")
	}

	offline.cli.Disconnect()
	if err = acct.RemoveDevice(ctx, offline.cli.Store.ID.Device); err != nil {
		t.Fatalf("RemoveDevice failed: %v", err)
	}
	if err = offline.cli.Connect(); err != nil {
		t.Fatalf("connect failed: %v", err)
	}
	evt, err = offline.WaitEvent(ctx, isType[*events.LoggedOut])
	if err != nil {
		t.Fatalf("offline device was not logged out on connect: %v", err)
	}
	if !evt.(*events.LoggedOut).OnConnect {
		t.Fatal("removal while offline did not report OnConnect")
	}
	if len(acct.Devices()) != 1 {
		t.Fatalf("devices after removal = %v, want the phone only", acct.Devices())
	}
}
