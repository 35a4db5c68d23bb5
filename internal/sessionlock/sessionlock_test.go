package sessionlock

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
	_ "modernc.org/sqlite"

	_ "github.com/lib/pq"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// addr is the Signal address of 4915100000001@s.whatsapp.net, device 0.
const addr = "4915100000001:0"

// newDevice returns a saved device in a fresh SQLite whatsmeow store with the wrapper installed
// before the first save (as for a device about to pair), and the store's database.
func newDevice(t *testing.T) (*store.Device, *dbutil.Database) {
	t.Helper()
	return newDeviceOn(t, "sqlite", sqliteURI(t, "wa.db"), "sqlite3")
}

// sqliteURI returns the URI of a fresh SQLite database file called name in the test's temporary
// directory, with the options the bridge opens its own database with.
func sqliteURI(t testing.TB, name string) string {
	return "file:" + filepath.Join(t.TempDir(), name) + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

// openContainer opens uri with driver as an upgraded whatsmeow SQL store container (closed when
// the test ends) and returns it with its database. With count set the database's statements are
// counted by a statementCounter in its Log.
func openContainer(t testing.TB, driver, uri, dialect string, count bool) (*sqlstore.Container, *dbutil.Database) {
	t.Helper()
	raw, err := sql.Open(driver, uri)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dbutil.NewWithDB(raw, dialect)
	if err != nil {
		t.Fatal(err)
	}
	if count {
		// Statements are logged to the database they were opened on, not its children: count them there.
		db.Log = &statementCounter{DatabaseLogger: db.Log}
	}
	db = db.Child("whatsmeow_version", upgrades.Table, nil)
	container := sqlstore.NewWithWrappedDB(db, waLog.Noop)
	if err = container.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = container.Close() })
	return container, db
}

// saveDevice gives device the JID and a placeholder account identity and saves it, as pairing
// would.
func saveDevice(t testing.TB, device *store.Device, jid types.JID) {
	t.Helper()
	device.ID = &jid
	device.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := device.Save(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// newDeviceOn is newDevice on a database of the given driver and dialect.
func newDeviceOn(t *testing.T, driver, uri, dialect string) (*store.Device, *dbutil.Database) {
	t.Helper()
	container, db := openContainer(t, driver, uri, dialect, true)
	device := container.NewDevice()
	Install(device, db, zerolog.Nop())
	if _, ok := device.Sessions.(*Store); ok || device.Sessions != nil {
		t.Fatalf("a device that was never saved has session store %T", device.Sessions)
	}
	saveDevice(t, device, types.NewADJID("4915100000000", 0, 1))
	if _, ok := device.Sessions.(*Store); !ok {
		t.Fatalf("after the first save the session store is %T, want the wrapper", device.Sessions)
	}
	if buf, ok := device.EventBuffer.(*identityBuffer); !ok {
		t.Fatalf("after the first save the event buffer is %T, want the identity wrapper", device.EventBuffer)
	} else if _, ok = buf.EventBuffer.(*txnBuffer); !ok {
		t.Fatalf("under the identity wrapper the event buffer is %T, want the session wrapper", buf.EventBuffer)
	}
	return device, db
}

// decryptAndHold starts a decryption transaction that loads addr's record and stores it as
// "decrypted", and returns once the store happened; the transaction commits when commit is closed,
// and txnDone then receives its result.
func decryptAndHold(ctx context.Context, device *store.Device) (commit chan struct{}, txnDone chan error) {
	stored := make(chan struct{})
	commit, txnDone = make(chan struct{}), make(chan error, 1)
	go func() {
		txnDone <- device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
				return err
			}
			if err := device.Sessions.PutSession(ctx, addr, []byte("decrypted")); err != nil {
				return err
			}
			close(stored)
			<-commit
			return nil
		})
	}()
	select {
	case <-stored:
	case err := <-txnDone:
		txnDone <- err
	}
	return commit, txnDone
}

// loadIn runs GetSession on a new goroutine and reports when it returned.
func loadIn(ctx context.Context, sessions store.SessionStore) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := sessions.GetSession(ctx, addr)
		done <- err
	}()
	return done
}

func waitFor(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(within):
		t.Fatalf("load still waiting after %s", within)
	}
}

func mustWait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case <-done:
		t.Fatal("a second load of a leased session did not wait")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestLoadWaitsForTheStoreOfAnEarlierLoad(t *testing.T) {
	device, _ := newDevice(t)
	ctx := context.Background()
	if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
		t.Fatal(err)
	}
	second := loadIn(ctx, device.Sessions)
	mustWait(t, second)
	if err := device.Sessions.PutSession(ctx, addr, []byte("record")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, second, 5*time.Second)

	// A batch load (a send) waits too, and its store ends the lease it took.
	if err := device.Sessions.PutSession(ctx, addr, []byte("record")); err != nil {
		t.Fatal(err)
	}
	if _, err := device.Sessions.GetManySessions(ctx, []string{addr, "4915100000002:0"}); err != nil {
		t.Fatal(err)
	}
	third := loadIn(ctx, device.Sessions)
	mustWait(t, third)
	if err := device.Sessions.PutManySessions(ctx, map[string][]byte{addr: []byte("record 2")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, third, 5*time.Second)
}

func TestForgottenLeaseEnds(t *testing.T) {
	device, _ := newDevice(t)
	device.Sessions.(*Store).timeout = 300 * time.Millisecond
	ctx := context.Background()
	// The same goroutine's next load takes over its own lease at once.
	for range 3 {
		start := time.Now()
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Fatalf("a goroutine's second load waited %s for its own lease", d)
		}
	}
	// Another goroutine's load waits for the timeout.
	waitFor(t, loadIn(ctx, device.Sessions), 5*time.Second)
	// A failed decryption's lease ends with ReleaseSender.
	device.Sessions.(*Store).timeout = time.Hour
	if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
		t.Fatal(err)
	}
	blocked := loadIn(ctx, device.Sessions)
	mustWait(t, blocked)
	ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))
	waitFor(t, blocked, 5*time.Second)
}

func TestWaitingLoadEndsWithItsContext(t *testing.T) {
	device, _ := newDevice(t)
	device.Sessions.(*Store).timeout = time.Hour
	if _, err := device.Sessions.GetSession(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	select {
	case err := <-loadIn(ctx, device.Sessions):
		if err == nil {
			t.Fatal("a load of a leased session returned without its lease")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a load kept waiting after its context ended")
	}
}

// On SQLite a transaction already keeps other writers out: loads inside one take no lease, and a
// store inside one ends no lease.
func TestSQLiteTransactionTakesNoLease(t *testing.T) {
	device, db := newDevice(t)
	device.Sessions.(*Store).timeout = time.Hour
	ctx := context.Background()
	err := db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			return err
		}
		return device.Sessions.PutSession(ctx, addr, []byte("in txn"))
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, loadIn(ctx, device.Sessions), 5*time.Second)
	// The lease of that outside load is not ended by a store inside a transaction.
	blocked := loadIn(ctx, device.Sessions)
	mustWait(t, blocked)
	if err = db.DoTxn(ctx, nil, func(ctx context.Context) error {
		return device.Sessions.PutSession(ctx, addr, []byte("in txn 2"))
	}); err != nil {
		t.Fatal(err)
	}
	mustWait(t, blocked)
	ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))
	waitFor(t, blocked, 5*time.Second)
}

// On PostgreSQL a record stored inside whatsmeow's decryption transaction is not visible to other
// connections before the commit: a load waiting for the lease must wait for the commit too, and
// then read what the decryption stored. A slow decryption (here ten lease timeouts) keeps its
// lease until then, so a send cannot load the record as it was before the decryption and
// overwrite the decryption's ratchet step.
func TestPostgresDecryptionLeaseEndsAtCommit(t *testing.T) {
	device, _ := newDeviceOn(t, "postgres", testdb.NewPostgres(t), "postgres")
	device.Sessions.(*Store).timeout = 100 * time.Millisecond
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	commit, txnDone := decryptAndHold(ctx, device)
	got := make(chan []byte, 1)
	go func() {
		data, err := device.Sessions.GetSession(ctx, addr)
		if err != nil {
			t.Error(err)
		}
		got <- data
	}()
	select {
	case data := <-got:
		t.Fatalf("a load during the decryption transaction returned %q before the commit", data)
	case <-time.After(time.Second):
	}
	close(commit)
	if err := <-txnDone; err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-got:
		if string(data) != "decrypted" {
			t.Fatalf("the load after the commit read %q, want the decryption's record", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the load still waits after the decryption transaction ended")
	}

	// A decryption that failed (rolled back, nothing stored) ends its lease with the transaction.
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		_, err := device.Sessions.GetSession(ctx, "4915100000003:0")
		if err != nil {
			return err
		}
		return errors.New("bad MAC")
	})
	if err == nil {
		t.Fatal("the failed decryption's error was lost")
	}
	done := make(chan error, 1)
	go func() {
		_, err := device.Sessions.GetSession(ctx, "4915100000003:0")
		done <- err
	}()
	waitFor(t, done, 5*time.Second)
}

// A client installed without its store's database (the simulator's clients, a second client on
// the bridge's session) still ends the leases of a decryption with the transaction: a message
// whatsmeow drops for an old counter stores nothing and reports no event, and the sender's next
// message must not wait for the lease timeout.
func TestDecryptionLeaseEndsWithoutKnownDatabase(t *testing.T) {
	device, _ := newDeviceOn(t, "postgres", testdb.NewPostgres(t), "postgres")
	device.Sessions.(*Store).db = nil
	device.Sessions.(*Store).timeout = time.Hour
	ctx := context.Background()
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			return err
		}
		return errors.New("received message with old counter")
	})
	if err == nil {
		t.Fatal("the failed decryption's error was lost")
	}
	waitFor(t, loadIn(ctx, device.Sessions), 5*time.Second)
	ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))

	// A store inside the transaction keeps the lease until the transaction ends.
	commit, txnDone := decryptAndHold(ctx, device)
	blocked := loadIn(ctx, device.Sessions)
	mustWait(t, blocked)
	close(commit)
	if err := <-txnDone; err != nil {
		t.Fatal(err)
	}
	waitFor(t, blocked, 5*time.Second)
}

// TestEndSendEndsTheSendsLeases: a send loads the records of every device it encrypts for and
// stores only those it advanced. While it runs (BeginSend) its leases outlive the timeout, as a
// send may wait for whatsmeow's prekey fetch; EndSend, when it returns on its goroutine, ends the
// leases it left at once, so a decryption from such a device does not wait for the timeout.
func TestEndSendEndsTheSendsLeases(t *testing.T) {
	device, _ := newDevice(t)
	device.Sessions.(*Store).timeout = 100 * time.Millisecond
	ctx := context.Background()
	const other = "4915100000002:0"
	stored, endSend, sendDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sendDone)
		BeginSend(device)
		defer EndSend(device)
		if _, err := device.Sessions.GetManySessions(ctx, []string{addr, other}); err != nil {
			t.Error(err)
			close(stored)
			return
		}
		// Only addr's session advanced; other's could not be encrypted for.
		if err := device.Sessions.PutManySessions(ctx, map[string][]byte{addr: []byte("sent")}); err != nil {
			t.Error(err)
		}
		close(stored)
		<-endSend
	}()
	<-stored
	// The stored session is free at once; the other one stays leased to the send, past the
	// timeout (loadIn's check waits 500 ms, five timeouts)...
	waitFor(t, loadIn(ctx, device.Sessions), 5*time.Second)
	blocked := make(chan error, 1)
	go func() {
		_, err := device.Sessions.GetSession(ctx, other)
		blocked <- err
	}()
	mustWait(t, blocked)
	// ...EndSend on another goroutine ends none of the send's leases...
	BeginSend(device)
	EndSend(device)
	mustWait(t, blocked)
	// ...and the send's own EndSend ends it.
	close(endSend)
	<-sendDone
	waitFor(t, blocked, 5*time.Second)

	// Even a send's lease ends at last (MaxActiveHold), so two goroutines that wait for each
	// other's sessions are not stuck for good.
	device.Sessions.(*Store).maxActive = 300 * time.Millisecond
	held := make(chan struct{})
	go func() {
		BeginSend(device)
		defer EndSend(device)
		if _, err := device.Sessions.GetSession(ctx, "4915100000003:0"); err != nil {
			t.Error(err)
		}
		close(held)
		time.Sleep(2 * time.Second)
	}()
	<-held
	late := make(chan error, 1)
	go func() {
		_, err := device.Sessions.GetSession(ctx, "4915100000003:0")
		late <- err
	}()
	waitFor(t, late, 1500*time.Millisecond)
}
