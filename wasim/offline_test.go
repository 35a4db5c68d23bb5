package wasim

import (
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
)

// waitPast polls until d has passed since start.
func waitPast(t *testing.T, start time.Time, d time.Duration) {
	t.Helper()
	for time.Since(start) <= d {
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOfflinePreviewAndExpiry: a device coming back hears what waits for it (offline preview)
// before the queue and the end of the offline batch after it; stanzas older than the queue expiry
// are dropped.
func TestOfflinePreviewAndExpiry(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Ola")
	lea := newContact(t, ctx, srv, "Lea")
	ola := pairByQR(t, ctx, srv, acct)
	// The phone shares its app-state key right after linking, as real phones do; let it arrive
	// before going offline so that the offline batch holds only Lea's messages.
	waitFor(t, ctx, ola.EventLog, "key share", func(msg *events.Message) bool {
		return msg.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE
	})

	// The linked connection's own offline batch (empty or not) must be over too, or its late
	// OfflineSyncCompleted would be taken for the reconnect's below.
	waitEvent[*events.OfflineSyncCompleted](t, ctx, ola, 0, "first OfflineSyncCompleted")

	ola.cli.Disconnect()
	batches := count[*events.OfflineSyncCompleted](ola)
	before := len(ola.All())
	for _, text := range []string{"away 1", "away 2"} {
		if _, err := lea.SendText(ctx, acct.JID(), text); err != nil {
			t.Fatal(err)
		}
	}
	if err := ola.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	waitEvent[*events.OfflineSyncCompleted](t, ctx, ola, batches, "OfflineSyncCompleted")
	var done *events.OfflineSyncCompleted
	for _, evt := range ola.All()[before:] {
		if evt, ok := evt.(*events.OfflineSyncCompleted); ok {
			done = evt
		}
	}
	if done == nil {
		t.Fatal("the reconnect's OfflineSyncCompleted is not in the log")
	}
	// The batch may also hold the phone's own peer and app-state stanzas; Lea's two messages must
	// be in it, announced by the preview before any of them.
	var order []string
	for _, evt := range ola.All()[before:] {
		switch evt := evt.(type) {
		case *events.OfflineSyncPreview:
			if evt.Messages < 2 || evt.Messages != done.Count {
				t.Fatalf("offline preview %+v, want at least Lea's 2 messages, as many as the batch of %d", evt, done.Count)
			}
			order = append(order, "preview")
		case *events.Message:
			if text := MessageText(evt); strings.HasPrefix(text, "away ") {
				order = append(order, text)
			}
		}
	}
	if len(order) != 3 || order[0] != "preview" {
		t.Fatalf("events in order %v, want the preview before both messages", order)
	}

	// Expiry: what waited longer than the expiry is gone.
	srv.SetQueueExpiry(300 * time.Millisecond)
	ola.cli.Disconnect()
	batches = count[*events.OfflineSyncCompleted](ola)
	if _, err := lea.SendText(ctx, acct.JID(), "too old"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now() // the message is queued before its sender gets the ack
	waitPast(t, sent, 300*time.Millisecond)
	if err := ola.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if done = waitEvent[*events.OfflineSyncCompleted](t, ctx, ola, batches, "second OfflineSyncCompleted"); done.Count != 0 {
		t.Fatalf("offline batch of %d messages after the expiry, want 0", done.Count)
	}
	if n := countText(ola.EventLog, "too old"); n != 0 {
		t.Fatalf("an expired message was delivered %d times", n)
	}
}

// TestPhoneLogsOutLongOfflineCompanion: a companion offline past the limit is refused with 401 at
// its next login (whatsmeow logs out and deletes its session) and is gone from the device list.
func TestPhoneLogsOutLongOfflineCompanion(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Pia")
	pia := pairByQR(t, ctx, srv, acct)
	dev := pia.cli.Store.ID.Device
	srv.SetCompanionOfflineLimit(300 * time.Millisecond)

	// A short absence is fine.
	pia.cli.Disconnect()
	if err := pia.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	pia.waitConnected(t, ctx, 1)

	pia.cli.Disconnect()
	for acct.Online(dev) {
		time.Sleep(20 * time.Millisecond)
	}
	waitPast(t, time.Now(), 300*time.Millisecond)
	if err := pia.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	evt := waitEvent[*events.LoggedOut](t, ctx, pia, 0, "LoggedOut")
	if !evt.OnConnect || evt.Reason != events.ConnectFailureLoggedOut {
		t.Fatalf("logged out %+v, want a 401 on connect", evt)
	}
	if devices := acct.Devices(); len(devices) != 1 {
		t.Fatalf("account still lists devices %v", devices)
	}
}
