package sessionlock

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// statementCounter counts the database round trips made through a dbutil.Database (statements,
// BEGIN, COMMIT and ROLLBACK), per method.
type statementCounter struct {
	dbutil.DatabaseLogger
	lock    sync.Mutex
	methods []string
	queries []string
}

func (c *statementCounter) QueryTiming(ctx context.Context, method, query string, args []any, nrows int, d time.Duration, err error) {
	switch method {
	case "Exec", "Query", "QueryRow", "Begin", "Commit", "Rollback":
	default:
		return // summaries (<Transaction>) and the end of a result set are no round trip
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	c.methods = append(c.methods, method)
	c.queries = append(c.queries, strings.Join(strings.Fields(query), " "))
}

// since returns the round trips counted after the first n.
func (c *statementCounter) since(n int) []string {
	c.lock.Lock()
	defer c.lock.Unlock()
	var out []string
	for i := n; i < len(c.methods); i++ {
		out = append(out, c.methods[i]+" "+c.queries[i])
	}
	return out
}

func (c *statementCounter) count() int {
	c.lock.Lock()
	defer c.lock.Unlock()
	return len(c.methods)
}

// newDeviceFor returns a saved device with the wrappers on a fresh database of dialect, the
// device's raw whatsmeow SQL store, and a counter of the database's round trips.
func newDeviceFor(t *testing.T, dialect testdb.Dialect) (*store.Device, *sqlstore.SQLStore, *statementCounter) {
	t.Helper()
	var device *store.Device
	var db *dbutil.Database
	if dialect == testdb.Postgres {
		device, db = newDeviceOn(t, "postgres", testdb.NewPostgres(t), "postgres")
	} else {
		device, db = newDevice(t)
	}
	counter := db.Log.(*statementCounter)
	raw, ok := device.Sessions.(*Store).SessionStore.(*sqlstore.SQLStore)
	if !ok {
		t.Fatalf("the session wrapper wraps %T, want whatsmeow's SQL store", device.Sessions.(*Store).SessionStore)
	}
	_, batched := device.PreKeys.(*preKeyStore)
	if batched != (dialect == testdb.Postgres) {
		t.Fatalf("on %s the prekey store is %T", dialect, device.PreKeys)
	}
	return device, raw, counter
}

const (
	groupID   = "120363000000000001@g.us"
	groupUser = "4915100000001:0"
)

// decryptionWrites makes the writes of a decrypted group message from a new sender's device plus
// those of a DM (session, identity, sender key, buffered plaintext), checking that each read
// inside sees them.
func decryptionWrites(t *testing.T, device *store.Device, hash [32]byte, key [32]byte) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			return err
		}
		if err := device.Sessions.PutSession(ctx, addr, []byte("after")); err != nil {
			return err
		}
		if data, err := device.Sessions.GetSession(ctx, addr); err != nil || string(data) != "after" {
			t.Errorf("inside the decryption the session reads %q, %v; want its own store", data, err)
		}
		if many, err := device.Sessions.GetManySessions(ctx, []string{addr, "4915100000009:0"}); err != nil ||
			string(many[addr]) != "after" || many["4915100000009:0"] != nil || len(many) != 2 {
			t.Errorf("inside the decryption GetManySessions reads %q, %v", many, err)
		}
		if has, err := device.Sessions.HasSession(ctx, addr); err != nil || !has {
			t.Errorf("inside the decryption HasSession reads %v, %v", has, err)
		}
		if err := device.Identities.PutIdentity(ctx, addr, key); err != nil {
			return err
		}
		if ok, err := device.Identities.IsTrustedIdentity(ctx, addr, key); err != nil || !ok {
			t.Errorf("inside the decryption the key it stored is not trusted (%v)", err)
		}
		if ok, err := device.Identities.IsTrustedIdentity(ctx, addr, [32]byte{0xee}); err != nil || ok {
			t.Errorf("inside the decryption another key than the stored one is trusted (%v)", err)
		}
		if _, err := device.SenderKeys.GetSenderKey(ctx, groupID, groupUser); err != nil {
			return err
		}
		if err := device.SenderKeys.PutSenderKey(ctx, groupID, groupUser, []byte("chain 2")); err != nil {
			return err
		}
		if data, err := device.SenderKeys.GetSenderKey(ctx, groupID, groupUser); err != nil || string(data) != "chain 2" {
			t.Errorf("inside the decryption the sender key reads %q, %v", data, err)
		}
		if err := device.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plaintext"), time.Unix(1700000000, 0)); err != nil {
			return err
		}
		if evt, err := device.EventBuffer.GetBufferedEvent(ctx, hash); err != nil || evt == nil || string(evt.Plaintext) != "plaintext" {
			t.Errorf("inside the decryption the buffered event reads %v, %v", evt, err)
		}
		return nil
	}
}

// stateOf reads back through whatsmeow's own SQL store what a decryption may have changed.
func stateOf(t *testing.T, raw *sqlstore.SQLStore, hash [32]byte, key [32]byte) (session, senderKey string, buffered bool, keyStored bool) {
	t.Helper()
	ctx := context.Background()
	data, err := raw.GetSession(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := raw.GetSenderKey(ctx, groupID, groupUser)
	if err != nil {
		t.Fatal(err)
	}
	evt, err := raw.GetBufferedEvent(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := raw.IsTrustedIdentity(ctx, addr, key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := raw.IsTrustedIdentity(ctx, addr, [32]byte{0xee})
	if err != nil {
		t.Fatal(err)
	}
	return string(data), string(sk), evt != nil, trusted && !other
}

// TestDecryptionWritesAtomically: the writes of a decryption land together or not at all, on both
// databases; a decryption's reads see its own writes; on PostgreSQL the writes cost one statement
// and the identity key is remembered only once it is written.
func TestDecryptionWritesAtomically(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			device, raw, counter := newDeviceFor(t, dialect)
			ids := device.Identities.(*Identities)
			ctx := context.Background()
			if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
				t.Fatal(err)
			}
			if err := device.SenderKeys.PutSenderKey(ctx, groupID, groupUser, []byte("chain 1")); err != nil {
				t.Fatal(err)
			}
			k1, k2 := [32]byte{1}, [32]byte{2}
			if err := device.Identities.PutIdentity(ctx, addr, k1); err != nil {
				t.Fatal(err)
			}

			// A decryption that fails after its writes: nothing is written, nothing remembered.
			failed := [32]byte{0xf0}
			err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				if err := decryptionWrites(t, device, failed, k2)(ctx); err != nil {
					return err
				}
				return errors.New("bad MAC")
			})
			if err == nil || err.Error() != "bad MAC" {
				t.Fatalf("the failed decryption returned %v", err)
			}
			if s, sk, buf, _ := stateOf(t, raw, failed, k2); s != "before" || sk != "chain 1" || buf {
				t.Errorf("after a failed decryption: session %q, sender key %q, buffered %v", s, sk, buf)
			}
			if _, _, _, k1Stored := stateOf(t, raw, failed, k1); !k1Stored {
				t.Error("after a failed decryption the stored identity key changed")
			}
			ids.lock.Lock()
			known, ok := ids.known[addr]
			ids.lock.Unlock()
			if ok && known != k1 || dialect == testdb.Postgres && !ok {
				// The real transaction forgets the key (safe); the deferred writes leave memory as it was.
				t.Errorf("after a failed decryption the remembered key is %x (known %v)", known, ok)
			}

			// A decryption whose writes fail (the plaintext is buffered already): nothing of it lands.
			dup := [32]byte{0xd0}
			if err = raw.PutBufferedEvent(ctx, dup, []byte("older"), time.Unix(1, 0)); err != nil {
				t.Fatal(err)
			}
			if err = device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				return decryptionWrites(t, device, dup, k2)(ctx)
			}); err == nil {
				t.Fatal("a decryption whose buffered event exists already reported success")
			}
			if s, sk, _, _ := stateOf(t, raw, dup, k2); s != "before" || sk != "chain 1" {
				t.Errorf("after failed writes: session %q, sender key %q", s, sk)
			}
			if _, _, _, k1Stored := stateOf(t, raw, dup, k1); !k1Stored {
				t.Error("after failed writes the stored identity key changed")
			}
			ids.lock.Lock()
			known = ids.known[addr]
			ids.lock.Unlock()
			if known == k2 {
				t.Error("after failed writes the identity key is remembered")
			}

			// A decryption that succeeds.
			ok1 := [32]byte{0x01}
			before := counter.count()
			if err = device.EventBuffer.DoDecryptionTxn(ctx, decryptionWrites(t, device, ok1, k2)); err != nil {
				t.Fatal(err)
			}
			trips := counter.since(before)
			if s, sk, buf, k2Stored := stateOf(t, raw, ok1, k2); s != "after" || sk != "chain 2" || !buf || !k2Stored {
				t.Errorf("after the decryption: session %q, sender key %q, buffered %v, key stored %v", s, sk, buf, k2Stored)
			}
			ids.lock.Lock()
			known = ids.known[addr]
			ids.lock.Unlock()
			if known != k2 {
				t.Error("the committed identity key is not remembered")
			}
			if dialect == testdb.Postgres {
				var writes []string
				for _, trip := range trips {
					if !strings.Contains(trip, "SELECT") {
						writes = append(writes, trip)
					}
				}
				t.Logf("round trips: %q", trips)
				if len(writes) != 1 || !strings.HasPrefix(writes[0], "Exec WITH ") {
					t.Errorf("the decryption's writes took %d round trips, want one statement: %q", len(writes), writes)
				}
			}
		})
	}
}

// TestDeferredWritesMatchWhatsmeow: what the combined statement writes reads back through
// whatsmeow's own SQL store, row by row, as what whatsmeow's own statements write for the same
// calls (sessions stored and deleted, identity keys stored and deleted, a sender key, a removed
// prekey, a buffered plaintext).
func TestDeferredWritesMatchWhatsmeow(t *testing.T) {
	device, raw, _ := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	// A second device of another account in the same database, without the wrappers: whatsmeow's
	// own statements in its own transaction.
	other := raw.Container.NewDevice()
	otherJID := *device.ID
	otherJID.User = "4915100000099"
	other.ID = &otherJID
	other.Account = device.Account
	if err := other.Save(ctx); err != nil {
		t.Fatal(err)
	}
	hash := [32]byte{0xab}
	writes := func(d *store.Device) func(context.Context) error {
		return func(ctx context.Context) error {
			for _, err := range []error{
				d.Sessions.PutSession(ctx, "1:0", []byte("one")),
				d.Sessions.PutSession(ctx, "2:0", []byte("two")),
				d.Sessions.DeleteSession(ctx, "3:0"),
				d.Identities.PutIdentity(ctx, "1:0", [32]byte{1}),
				d.Identities.DeleteIdentity(ctx, "3:0"),
				d.SenderKeys.PutSenderKey(ctx, groupID, "1:0", []byte("sk1")),
				d.SenderKeys.PutSenderKey(ctx, groupID, "2:0", []byte("sk2")),
				d.PreKeys.RemovePreKey(ctx, 2),
				d.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plain"), time.Unix(1700000000, 0)),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	for _, d := range []*store.Device{device, other} {
		// Rows the writes replace or delete.
		for _, err := range []error{
			d.Sessions.PutSession(ctx, "2:0", []byte("old")),
			d.Sessions.PutSession(ctx, "3:0", []byte("gone")),
			d.Identities.PutIdentity(ctx, "3:0", [32]byte{3}),
			d.SenderKeys.PutSenderKey(ctx, groupID, "2:0", []byte("old")),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.PreKeys.GetOrGenPreKeys(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := device.EventBuffer.DoDecryptionTxn(ctx, writes(device)); err != nil {
		t.Fatal(err)
	}
	if err := other.EventBuffer.DoDecryptionTxn(ctx, writes(other)); err != nil {
		t.Fatal(err)
	}
	otherRaw := other.Sessions.(*sqlstore.SQLStore)
	for _, address := range []string{"1:0", "2:0", "3:0"} {
		a, errA := raw.GetSession(ctx, address)
		b, errB := otherRaw.GetSession(ctx, address)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("session %s: deferred %q (%v), whatsmeow %q (%v)", address, a, errA, b, errB)
		}
		for _, key := range [][32]byte{{1}, {3}, {9}} {
			ta, _ := raw.IsTrustedIdentity(ctx, address, key)
			tb, _ := otherRaw.IsTrustedIdentity(ctx, address, key)
			if ta != tb {
				t.Errorf("identity %s trusts %x: deferred %v, whatsmeow %v", address, key[:1], ta, tb)
			}
		}
		a, _ = raw.GetSenderKey(ctx, groupID, address)
		b, _ = otherRaw.GetSenderKey(ctx, groupID, address)
		if !bytes.Equal(a, b) {
			t.Errorf("sender key %s: deferred %q, whatsmeow %q", address, a, b)
		}
	}
	for id := uint32(1); id <= 3; id++ {
		a, _ := raw.GetPreKey(ctx, id)
		b, _ := otherRaw.GetPreKey(ctx, id)
		if (a == nil) != (b == nil) {
			t.Errorf("prekey %d: deferred present %v, whatsmeow present %v", id, a != nil, b != nil)
		}
	}
	ea, _ := raw.GetBufferedEvent(ctx, hash)
	eb, _ := otherRaw.GetBufferedEvent(ctx, hash)
	if ea == nil || eb == nil || !bytes.Equal(ea.Plaintext, eb.Plaintext) || !ea.ServerTime.Equal(eb.ServerTime) ||
		ea.InsertTime.Sub(eb.InsertTime).Abs() > time.Minute {
		t.Errorf("buffered event: deferred %+v, whatsmeow %+v", ea, eb)
	}
}

// TestDeferredDecryptionLeaseEndsAfterWrite: another goroutine's load of a session a deferred
// decryption stored waits until the combined statement has run (here held up by a row lock of
// another connection), and then reads the new record.
func TestDeferredDecryptionLeaseEndsAfterWrite(t *testing.T) {
	uri := testdb.NewPostgres(t)
	device, _ := newDeviceOn(t, "postgres", uri, "postgres")
	device.Sessions.(*Store).timeout = time.Hour
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	locker, err := sql.Open("postgres", uri)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lockTxn, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lockTxn.Rollback() }()
	if _, err = lockTxn.Exec(`SELECT 1 FROM whatsmeow_sessions WHERE their_id=$1 FOR UPDATE`, addr); err != nil {
		t.Fatal(err)
	}
	decrypted := make(chan error, 1)
	stored := make(chan struct{})
	go func() {
		decrypted <- device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
				return err
			}
			err := device.Sessions.PutSession(ctx, addr, []byte("decrypted"))
			close(stored)
			return err
		})
	}()
	select {
	case <-stored:
	case <-time.After(5 * time.Second):
		// In a real transaction the store itself waits for the row lock.
		t.Fatal("the decryption's store waited for the database")
	}
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
		t.Fatalf("a load returned %q while the decryption's statement waited", data)
	case err := <-decrypted:
		t.Fatalf("the decryption returned (%v) while its row was locked", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err = lockTxn.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err = <-decrypted; err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-got:
		if string(data) != "decrypted" {
			t.Fatalf("the load after the decryption read %q", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the load still waits after the decryption ended")
	}
}

// TestDeferredDecryptionRunsAgainInTransaction: a write the deferred writes cannot hold makes the
// decryption run again, from the stored state, in a real transaction; the first run's writes are
// neither written nor seen by the second run, nor remembered.
func TestDeferredDecryptionRunsAgainInTransaction(t *testing.T) {
	device, raw, counter := newDeviceFor(t, testdb.Postgres)
	ids := device.Identities.(*Identities)
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	var runs []string
	before := counter.count()
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		data, err := device.Sessions.GetSession(ctx, addr)
		if err != nil {
			return err
		}
		runs = append(runs, string(data))
		if err = device.Sessions.PutSession(ctx, addr, []byte("run "+fmt.Sprint(len(runs)))); err != nil {
			return err
		}
		if len(runs) == 1 {
			if err = device.Identities.PutIdentity(ctx, addr, [32]byte{7}); err != nil {
				return err
			}
			if err = device.Sessions.DeleteAllSessions(ctx, "4915100000005"); err != nil {
				return fmt.Errorf("failed to clear: %w", err) // as a caller wraps it
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"before", "before"}) {
		t.Errorf("the runs read %q, want the stored record twice", runs)
	}
	if data, _ := raw.GetSession(ctx, addr); string(data) != "run 2" {
		t.Errorf("after the second run the record is %q", data)
	}
	if trusted, _ := raw.IsTrustedIdentity(ctx, addr, [32]byte{8}); !trusted {
		t.Error("the first run's identity key was written")
	}
	ids.lock.Lock()
	_, known := ids.known[addr]
	ids.lock.Unlock()
	if known {
		t.Error("the first run's identity key is remembered")
	}
	trips := counter.since(before)
	if !slices.ContainsFunc(trips, func(s string) bool { return strings.HasPrefix(s, "Begin") }) {
		t.Errorf("the second run was not in a transaction: %q", trips)
	}
}

// TestDMDecryptionIsOneStatement: on PostgreSQL the decryption of a normal message from a contact
// already used (session and identity key known) costs one database statement: the writes. On
// SQLite it keeps its transaction, with the loads answered from memory.
func TestDMDecryptionIsOneStatement(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			device, raw, counter := newDeviceFor(t, dialect)
			ctx := context.Background()
			key := [32]byte{5}
			if err := device.Sessions.PutSession(ctx, addr, []byte("r1")); err != nil {
				t.Fatal(err)
			}
			if err := device.Identities.PutIdentity(ctx, addr, key); err != nil {
				t.Fatal(err)
			}
			hash := [32]byte{0x11}
			before := counter.count()
			// What libsignal's SessionCipher.Decrypt and whatsmeow's bufferedDecrypt call.
			err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				if has, err := device.Sessions.HasSession(ctx, addr); err != nil || !has {
					return fmt.Errorf("no session: %w", err)
				}
				data, err := device.Sessions.GetSession(ctx, addr)
				if err != nil || string(data) != "r1" {
					return fmt.Errorf("loaded %q: %w", data, err)
				}
				if ok, err := device.Identities.IsTrustedIdentity(ctx, addr, key); err != nil || !ok {
					return fmt.Errorf("untrusted: %w", err)
				}
				if err = device.Identities.PutIdentity(ctx, addr, key); err != nil {
					return err
				}
				if err = device.Sessions.PutSession(ctx, addr, []byte("r2")); err != nil {
					return err
				}
				return device.EventBuffer.PutBufferedEvent(ctx, hash, []byte("hello"), time.Unix(1700000000, 0))
			})
			if err != nil {
				t.Fatal(err)
			}
			trips := counter.since(before)
			want := 1
			if dialect == testdb.SQLite {
				want = 4 // BEGIN, the session store, the buffered event, COMMIT
			}
			if len(trips) != want {
				t.Errorf("the decryption took %d round trips, want %d: %q", len(trips), want, trips)
			}
			if data, _ := raw.GetSession(ctx, addr); string(data) != "r2" {
				t.Errorf("the stored record is %q", data)
			}
			// The committed record is now known: the next load costs nothing.
			before = counter.count()
			if data, err := device.Sessions.GetSession(ctx, addr); err != nil || string(data) != "r2" {
				t.Errorf("the next load read %q, %v", data, err)
			}
			ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))
			if trips = counter.since(before); len(trips) != 0 {
				t.Errorf("loading a committed record took %q", trips)
			}
		})
	}
}
