package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
	_ "modernc.org/sqlite" // testStore's database
)

// testStore returns a fresh whatsmeow store in SQLite and its database.
func testStore(t *testing.T) (*sqlstore.Container, *sql.DB) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "wa.db")+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	container := sqlstore.NewWithDB(raw, "sqlite3", waLog.Noop)
	if err = container.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = container.Close() })
	return container, raw
}

// saveTestDevice stores dev as a linked device of user.
func saveTestDevice(t *testing.T, dev *store.Device, user string) {
	t.Helper()
	jid := types.NewADJID(user, 0, 3)
	dev.ID = &jid
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := dev.Save(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// testDevices returns a function that saves a new whatsmeow device of user in a fresh store.
func testDevices(t *testing.T) func(user string) *store.Device {
	container, _ := testStore(t)
	return func(user string) *store.Device {
		t.Helper()
		dev := container.NewDevice()
		saveTestDevice(t, dev, user)
		return dev
	}
}

// TestStoredAppStateProgressIsReadBeforeConnecting: a stored device's app state progress is not
// read while its client is built (start-up builds a hundred), but by its connection before it
// connects; until then status shows none rather than a wrong "waiting for your phone".
func TestStoredAppStateProgressIsReadBeforeConnecting(t *testing.T) {
	ctx := context.Background()
	device := testDevices(t)
	synced, fresh := device("4915100000001"), device("4915100000002")
	if err := synced.AppStateKeys.PutAppStateSyncKey(ctx, []byte{1, 2}, store.AppStateSyncKey{Data: []byte{3}, Fingerprint: []byte{4}, Timestamp: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		device *store.Device
		want   int
	}{{"device holding an app state key", synced, len(AppStateCollections)}, {"device without one", fresh, 0}} {
		login := NewLogin(Options{Background: ctx, Log: zerolog.Nop(), Handler: &fakeHandler{}})
		cli := login.newClient(tc.device)
		if got, total := login.AppStateProgress(); got != 0 || total != 0 {
			t.Errorf("%s: progress before the connection read it = %d of %d, want unknown (0 of 0)", tc.name, got, total)
		}
		login.readAppStateProgress(ctx, cli)
		if got, total := login.AppStateProgress(); got != tc.want || total != len(AppStateCollections) {
			t.Errorf("%s: progress = %d of %d, want %d of %d", tc.name, got, total, tc.want, len(AppStateCollections))
		}
	}
}

// TestReplacingClientConnectsAfterTheOldLoop: a session connected again (the reconnect command
// after a disconnect) while the loop of the client it replaced is backing off from WhatsApp's
// refusals gets its own connection attempt at once, not after that backoff; the replaced client is
// not tried again.
func TestReplacingClientConnectsAfterTheOldLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	device := testDevices(t)
	dials := make(chan string, 64)
	// refusing is a websocket transport that records which client dialled and refuses it.
	refusing := func(name string) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			dials <- name
			return nil, errors.New("refused by the test")
		}}}
	}
	var login *Login
	// WhatsApp has refused this login for a while: after this refusal the wait is a minute (±25 %).
	refusingLong := refusing("old")
	dialOld := refusingLong.Transport.(*http.Transport).DialContext
	refusingLong.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		login.retry.lock.Lock()
		login.retry.delays.delay = time.Minute
		login.retry.lock.Unlock()
		return dialOld(ctx, network, addr)
	}
	backingOff := make(chan struct{}, 8)
	logs := zerolog.New(lineWriter(func(line string) {
		if strings.Contains(line, "Waiting before connecting") {
			select {
			case backingOff <- struct{}{}:
			default:
			}
		}
	}))
	login = NewLogin(Options{Background: ctx, Log: logs, Handler: &fakeHandler{}, Websocket: refusingLong})
	login.ConnectDevice(device("4915100000001"))
	if got := <-dials; got != "old" {
		t.Fatalf("first dial by %q", got)
	}
	// Once the old loop waits out its backoff, the user disconnects and connects the stored
	// session again.
	<-backingOff
	if !login.Disconnect() {
		t.Fatal("no client to disconnect")
	}
	login.opts.Websocket = refusing("new") // read by newClient only
	login.ConnectDevice(device("4915100000001"))
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-dials:
			if got == "new" {
				return
			}
			t.Fatalf("the replaced client dialled again")
		case <-timeout:
			t.Fatal("the replacing client was not tried within 10 s (the old loop's backoff was a minute)")
		}
	}
}

// lineWriter is an io.Writer for a zerolog logger that hands each log line to its function.
type lineWriter func(line string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(string(p))
	return len(p), nil
}
