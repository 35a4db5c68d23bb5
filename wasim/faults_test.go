package wasim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// waitQueueEmpty polls until the device has settled everything queued for it.
func waitQueueEmpty(t *testing.T, ctx context.Context, acct *Account, device uint16) {
	t.Helper()
	for acct.QueueLength(device) > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("queue of device %d never drained (%d left)", device, acct.QueueLength(device))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestConnectionDropDeliversOnce(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	kim := pairByQR(t, ctx, srv, acct)
	dev := kim.cli.Store.ID.Device

	if err := srv.DropConnections(acct.JID().User); err != nil {
		t.Fatalf("DropConnections failed: %v", err)
	}
	var texts []string
	for i := range 3 {
		text := fmt.Sprintf("during drop %d", i)
		texts = append(texts, text)
		if _, err := lea.SendText(ctx, acct.JID(), text); err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	kim.waitConnected(t, ctx, 1)
	for _, text := range texts {
		if _, err := kim.WaitMessage(ctx, textIs(text)); err != nil {
			t.Fatalf("message %q never arrived: %v", text, err)
		}
	}
	waitQueueEmpty(t, ctx, acct, dev)
	// Another drop must not redeliver anything.
	if err := srv.DropConnections(acct.JID().User); err != nil {
		t.Fatalf("DropConnections failed: %v", err)
	}
	kim.waitConnected(t, ctx, 2)
	if _, err := lea.SendText(ctx, acct.JID(), "marker"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := kim.WaitMessage(ctx, textIs("marker")); err != nil {
		t.Fatalf("marker never arrived: %v", err)
	}
	for _, text := range texts {
		if n := countText(kim.EventLog, text); n != 1 {
			t.Fatalf("message %q arrived %d times", text, n)
		}
	}
}

func TestOutageDeliversOnceAfter(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Max")
	nia := newContact(t, ctx, srv, "Nia")
	max := pairByQR(t, ctx, srv, acct)
	dev := max.cli.Store.ID.Device

	max.cli.Disconnect()
	texts := []string{"queued 1", "queued 2", "queued 3"}
	for _, text := range texts {
		if _, err := nia.SendText(ctx, acct.JID(), text); err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	srv.SetOutage(true)
	if err := max.cli.Connect(); err == nil {
		t.Fatal("connect succeeded during the outage")
	}
	if _, err := nia.SendText(ctx, acct.JID(), "lost in outage"); err == nil {
		t.Fatal("contact could send during the outage")
	}
	srv.SetOutage(false)
	if err := max.cli.Connect(); err != nil {
		t.Fatalf("connect after outage failed: %v", err)
	}
	max.waitConnected(t, ctx, 1)
	for _, text := range texts {
		if _, err := max.WaitMessage(ctx, textIs(text)); err != nil {
			t.Fatalf("message %q never arrived: %v", text, err)
		}
	}
	waitQueueEmpty(t, ctx, acct, dev)
	for _, text := range texts {
		if n := countText(max.EventLog, text); n != 1 {
			t.Fatalf("message %q arrived %d times", text, n)
		}
	}

	// The contact reconnects by itself; a resend with the same message ID is delivered once.
	if err := nia.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	id := nia.Client().GenerateMessageID()
	for range 2 {
		if _, err := nia.Client().SendMessage(ctx, acct.JID(), textMessage("sent twice"), whatsmeow.SendRequestExtra{ID: id}); err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	if _, err := nia.SendText(ctx, acct.JID(), "after the duplicate"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := max.WaitMessage(ctx, textIs("after the duplicate")); err != nil {
		t.Fatalf("message never arrived: %v", err)
	}
	if n := countText(max.EventLog, "sent twice"); n != 1 {
		t.Fatalf("duplicate-id message arrived %d times", n)
	}
}

func TestRestartKeepsOfflineQueue(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Olli")
	pia := newContact(t, ctx, srv, "Pia")
	olli := pairByQR(t, ctx, srv, acct)
	dev := olli.cli.Store.ID.Device
	addr := srv.Addr()

	olli.cli.Disconnect()
	for _, text := range []string{"before restart 1", "before restart 2"} {
		if _, err := pia.SendText(ctx, acct.JID(), text); err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart failed: %v", err)
	}
	if srv.Addr() != addr {
		t.Fatalf("address changed from %s to %s", addr, srv.Addr())
	}
	if err := olli.cli.Connect(); err != nil {
		t.Fatalf("connect after restart failed: %v", err)
	}
	olli.waitConnected(t, ctx, 1)
	for _, text := range []string{"before restart 1", "before restart 2"} {
		if _, err := olli.WaitMessage(ctx, textIs(text)); err != nil {
			t.Fatalf("message %q lost in restart: %v", text, err)
		}
	}
	waitQueueEmpty(t, ctx, acct, dev)
	if err := pia.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pia.SendText(ctx, acct.JID(), "after restart"); err != nil {
		t.Fatalf("send after restart failed: %v", err)
	}
	if _, err := olli.WaitMessage(ctx, textIs("after restart")); err != nil {
		t.Fatalf("message after restart never arrived: %v", err)
	}
	for _, text := range []string{"before restart 1", "before restart 2"} {
		if n := countText(olli.EventLog, text); n != 1 {
			t.Fatalf("message %q arrived %d times", text, n)
		}
	}
}

// TestDeliveryDelay: with a delivery delay, messages arrive no sooner than the delay, in order and
// once each; without it they arrive at once again.
func TestDeliveryDelay(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	kim := pairByQR(t, ctx, srv, acct)

	const delay = 700 * time.Millisecond
	srv.SetDeliveryDelay(delay)
	start := time.Now()
	var texts []string
	for i := range 3 {
		text := fmt.Sprintf("delayed %d", i)
		texts = append(texts, text)
		if _, err := lea.SendText(ctx, acct.JID(), text); err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	if _, err := kim.WaitMessage(ctx, textIs(texts[0])); err != nil {
		t.Fatalf("delayed message never arrived: %v", err)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("delayed message arrived after %s, before the %s delay", elapsed, delay)
	}
	if _, err := kim.WaitMessage(ctx, textIs(texts[2])); err != nil {
		t.Fatalf("delayed message never arrived: %v", err)
	}
	var order []string
	for _, evt := range kim.All() {
		if msg, ok := evt.(*events.Message); ok && strings.HasPrefix(MessageText(msg), "delayed ") {
			order = append(order, MessageText(msg))
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(texts) {
		t.Errorf("delayed messages arrived as %v, want %v", order, texts)
	}

	srv.SetDeliveryDelay(0)
	if _, err := lea.SendText(ctx, acct.JID(), "prompt"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if _, err := kim.WaitMessage(ctx, textIs("prompt")); err != nil {
		t.Fatalf("message after the delay ended never arrived: %v", err)
	}
}

// Unacknowledged lists what waits for an offline device, in order, until the device has it.
func TestUnacknowledgedMessages(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	kim := pairByQR(t, ctx, srv, acct)

	if err := lea.SetOnline(ctx, false); err != nil {
		t.Fatal(err)
	}
	var sent []types.MessageID
	for i := range 2 {
		resp, err := kim.cli.SendMessage(ctx, lea.JID(), &waE2E.Message{Conversation: proto.String(fmt.Sprintf("queued %d", i))})
		if err != nil {
			t.Fatalf("send failed: %v", err)
		}
		sent = append(sent, resp.ID)
	}
	if got := lea.Account().Unacknowledged(0); fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Fatalf("Unacknowledged for the offline phone = %v, want %v", got, sent)
	}
	if err := lea.SetOnline(ctx, true); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := lea.WaitMessage(ctx, textIs(fmt.Sprintf("queued %d", i))); err != nil {
			t.Fatalf("queued message %d never arrived: %v", i, err)
		}
	}
	for len(lea.Account().Unacknowledged(0)) > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("messages still unacknowledged after delivery: %v", lea.Account().Unacknowledged(0))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
