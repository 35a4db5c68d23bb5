package wasim

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"
)

// testTimeout bounds each wait in the tests.
const testTimeout = 60 * time.Second

var phoneCounter atomic.Int64

// newPhoneNumber returns a phone number unique within the test process.
func newPhoneNumber() string {
	return "4915" + time.Now().Format("0405") + itoa(int(1000+phoneCounter.Add(1)))
}

func testLogger() *zerolog.Logger {
	// Plain JSON lines: zerolog's ConsoleWriter compares its output with os.Stdout on every write,
	// a data race with the testing package swapping os.Stdout for the examples while a client of
	// an earlier test still logs from its own goroutine.
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	return &log
}

func newTestServer(t testing.TB) *Server {
	t.Helper()
	log := testLogger()
	if _, ok := t.(*testing.B); ok {
		// A benchmark's output is read by tools (benchstat): a warning logged by a contact whose
		// connection closed between two runs would land in the middle of a result line.
		quiet := log.Level(zerolog.ErrorLevel)
		log = &quiet
	}
	srv, err := New(context.Background(), Options{Log: log})
	if err != nil {
		t.Fatalf("failed to start simulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// companion is a whatsmeow client under test (standing in for the bridge).
type companion struct {
	*EventLog
	cli       *whatsmeow.Client
	container *sqlstore.Container
	path      string
}

// newCompanion makes an unpaired client with its own SQLite store.
func newCompanion(t testing.TB, srv *Server, path string) *companion {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "companion.db")
	}
	container, err := OpenStore(context.Background(), path, waLog.Zerolog(*testLogger()))
	if err != nil {
		t.Fatalf("failed to open store: %v", err)
	}
	dev, err := container.GetFirstDevice(context.Background())
	if err != nil {
		t.Fatalf("failed to load device: %v", err)
	}
	cli := srv.NewClient(dev)
	cli.Store.PushName = "Companion"
	c := &companion{EventLog: NewEventLog(), cli: cli, container: container, path: path}
	cli.AddEventHandler(c.Add)
	t.Cleanup(func() {
		cli.Disconnect()
		_ = container.Close()
	})
	return c
}

func isType[T any](evt any) bool {
	_, ok := evt.(T)
	return ok
}

// waitConnected waits for the next events.Connected after the given number already seen.
func (c *companion) waitConnected(t testing.TB, ctx context.Context, seen int) {
	t.Helper()
	deadline, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	for c.Count(isType[*events.Connected]) <= seen {
		if _, err := c.WaitEvent(deadline, func(evt any) bool {
			return isType[*events.Connected](evt) && c.Count(isType[*events.Connected]) > seen
		}); err != nil {
			t.Fatalf("companion did not connect: %v", err)
		}
	}
}

// pairByQR connects an unpaired companion and has the account's phone scan its first QR code.
func pairByQR(t testing.TB, ctx context.Context, srv *Server, acct *Account) *companion {
	t.Helper()
	c := newCompanion(t, srv, "")
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("failed to connect companion: %v", err)
	}
	evt, err := c.WaitEvent(ctx, isType[*events.QR])
	if err != nil {
		t.Fatalf("no QR code: %v", err)
	}
	if err = acct.ScanQR(ctx, evt.(*events.QR).Codes[0]); err != nil {
		t.Fatalf("phone failed to scan QR: %v", err)
	}
	c.waitConnected(t, ctx, 0)
	waitLinkSettled(t, ctx, c, sendsWholeHistory(acct))
	return c
}

// waitLinkSettled waits until a newly linked companion has the phone's app-state key, has synced
// every app-state collection with it and, unless history is false, has received the phone's whole
// history (the chunk at progress 100), as a real device does right after linking. whatsmeow runs
// the app-state sync and the history download in goroutines of its own that race with its own
// store deletion when the device is logged out meanwhile (a data race inside whatsmeow, reported
// by -race: Device.Delete replaces the stores those goroutines read), so tests that refuse or
// remove the device must start from a settled link. history is false for an account whose phone
// sends no history or holds its last chunk back.
func waitLinkSettled(t testing.TB, ctx context.Context, c *companion, history bool) {
	t.Helper()
	last := appstate.AllPatchNames[len(appstate.AllPatchNames)-1]
	_, err := c.WaitEvent(ctx, func(evt any) bool {
		done, ok := evt.(*events.AppStateSyncComplete)
		return ok && done.Name == last
	})
	if err != nil {
		t.Fatalf("companion did not finish its first app-state sync: %v", err)
	}
	if !history {
		return
	}
	_, err = c.WaitEvent(ctx, func(evt any) bool {
		hs, ok := evt.(*events.HistorySync)
		return ok && hs.Data.GetSyncType() != waHistorySync.HistorySync_PUSH_NAME && hs.Data.GetProgress() == 100
	})
	if err != nil {
		t.Fatalf("companion did not receive the phone's history: %v", err)
	}
}

// sendsWholeHistory reports whether acct's phone sends a new companion its whole history at once
// (neither disabled nor holding the last chunk back).
func sendsWholeHistory(acct *Account) bool {
	acct.history.lock.Lock()
	defer acct.history.lock.Unlock()
	return !acct.history.opts.Disabled && !acct.history.opts.HoldLast
}

func newContact(t testing.TB, ctx context.Context, srv *Server, name string) *Contact {
	t.Helper()
	contact, err := srv.CreateContact(ctx, newPhoneNumber(), name)
	if err != nil {
		t.Fatalf("failed to create contact %s: %v", name, err)
	}
	return contact
}

func newAccount(t testing.TB, ctx context.Context, srv *Server, name string) *Account {
	t.Helper()
	acct, err := srv.CreateAccount(ctx, newPhoneNumber(), name)
	if err != nil {
		t.Fatalf("failed to create account %s: %v", name, err)
	}
	return acct
}

// textIs matches a message event with the given text.
func textIs(text string) func(*events.Message) bool {
	return func(msg *events.Message) bool { return MessageText(msg) == text }
}

func countText(log *EventLog, text string) int {
	return log.Count(func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && MessageText(msg) == text
	})
}

func textMessage(text string) *waE2E.Message {
	return &waE2E.Message{Conversation: proto.String(text)}
}

// waitUntil polls cond until it holds or the context ends.
func waitUntil(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// announceAvailable has a companion announce itself available (whatsmeow SendPresence) and waits
// until the server took it.
func (c *companion) announceAvailable(t testing.TB, ctx context.Context, acct *Account) {
	t.Helper()
	if err := c.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatalf("SendPresence failed: %v", err)
	}
	dev := c.cli.Store.ID.Device
	waitUntil(t, ctx, "the companion to be available", func() bool { return acct.DeviceAvailable(dev) })
}

// setAvailable has a simulated phone announce itself available and waits until the server took it.
func setAvailable(t testing.TB, ctx context.Context, c *Contact) {
	t.Helper()
	if err := c.SetAvailable(ctx, true); err != nil {
		t.Fatalf("SetAvailable failed: %v", err)
	}
	waitUntil(t, ctx, "the phone to be available", func() bool { return c.Account().DeviceAvailable(0) })
}
