package sessionlock

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// newCarryingDevice returns a saved PostgreSQL device whose decryptions hold their writes for the
// handler's insert (CarryDecryptions called before the first save, as for a device being paired),
// its raw store, its database with a table standing for the bridge's inbox, and a round trip
// counter.
func newCarryingDevice(t *testing.T) (*store.Device, *sqlstore.SQLStore, *dbutil.Database, *statementCounter) {
	t.Helper()
	container, db := openContainer(t, "postgres", testdb.NewPostgres(t), "postgres", true)
	device := container.NewDevice()
	Install(device, db, zerolog.Nop())
	CarryDecryptions(device)
	saveDevice(t, device, types.NewADJID("4915100000000", 0, 1))
	if br := batcherOf(device); br == nil || !br.holds.on {
		t.Fatal("CarryDecryptions before the first save did not take effect")
	}
	if _, err := db.Exec(context.Background(), `CREATE TABLE inbox (seq SERIAL PRIMARY KEY, payload TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	raw := device.Sessions.(*Store).SessionStore.(*sqlstore.SQLStore)
	return device, raw, db, db.Log.(*statementCounter)
}

// carryInsert runs what the bridge's inbox insert does with a held decryption: one statement with
// the held writes as CTEs before the insert of payload (nil: refused by the table), and reports
// its outcome to the held decryption. It returns the statement's round trips and error.
func carryInsert(t *testing.T, device *store.Device, db *dbutil.Database, counter *statementCounter, payload any) (trips []string, err error) {
	t.Helper()
	held, err := Take(device)
	if held == nil || err != nil {
		t.Fatalf("no held decryption to carry (%v)", err)
	}
	before := counter.count()
	args := []any{payload}
	var q strings.Builder
	q.WriteString("WITH ")
	for i, part := range held.CTEs(func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }) {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("c" + strconv.Itoa(i) + " AS (" + part + ")")
	}
	q.WriteString(" INSERT INTO inbox (payload) VALUES ($1)")
	_, err = db.Exec(context.Background(), q.String(), args...)
	held.Done(err)
	return counter.since(before), err
}

// decryptRecord decrypts as whatsmeow's bufferedDecrypt does a message from addr whose session
// record becomes record, buffering its plaintext under hash.
func decryptRecord(t *testing.T, device *store.Device, hash [32]byte, record string) {
	t.Helper()
	err := device.EventBuffer.DoDecryptionTxn(context.Background(), func(ctx context.Context) error {
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			return err
		}
		if err := device.Sessions.PutSession(ctx, addr, []byte(record)); err != nil {
			return err
		}
		return device.EventBuffer.PutBufferedEvent(ctx, hash, []byte("plaintext "+record), time.Unix(1700000000, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedRecord returns addr's session record as the database holds it.
func storedRecord(t *testing.T, raw *sqlstore.SQLStore) string {
	t.Helper()
	data, err := raw.GetSession(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestHeldDecryptionRidesWithTheInsert: with CarryDecryptions a decryption writes nothing when it
// returns; the handler's insert on the same goroutine carries its writes in one statement, and
// until then the decryption's session stays leased, its identity key is not remembered, and
// another goroutine has nothing to take.
func TestHeldDecryptionRidesWithTheInsert(t *testing.T) {
	device, raw, db, counter := newCarryingDevice(t)
	ids := device.Identities.(*Identities)
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := device.SenderKeys.PutSenderKey(ctx, groupID, groupUser, []byte("chain 1")); err != nil {
		t.Fatal(err)
	}
	k2, hash := [32]byte{2}, [32]byte{0x31}

	before := counter.count()
	if err := device.EventBuffer.DoDecryptionTxn(ctx, decryptionWrites(t, device, hash, k2)); err != nil {
		t.Fatal(err)
	}
	for _, trip := range counter.since(before) {
		if !strings.HasPrefix(trip, "Query") {
			t.Errorf("the held decryption wrote: %q", trip)
		}
	}
	if s, sk, buf, _ := stateOf(t, raw, hash, k2); s != "before" || sk != "chain 1" || buf {
		t.Errorf("before the insert: session %q, sender key %q, buffered %v; want nothing written", s, sk, buf)
	}
	ids.lock.Lock()
	_, known := ids.known[addr]
	ids.lock.Unlock()
	if known {
		t.Error("the held decryption's identity key is remembered before it is written")
	}

	// Another goroutine neither takes the held writes nor loads the session before they are written.
	other := make(chan *Held, 1)
	go func() { h, _ := Take(device); other <- h }()
	if h := <-other; h != nil {
		t.Fatal("another goroutine took the held decryption")
	}
	loaded := make(chan string, 1)
	go func() {
		data, err := device.Sessions.GetSession(ctx, addr)
		if err != nil {
			t.Error(err)
		}
		loaded <- string(data)
	}()
	select {
	case data := <-loaded:
		t.Fatalf("another goroutine loaded the session (%q) while the decryption's writes were held", data)
	case <-time.After(100 * time.Millisecond):
	}

	trips, err := carryInsert(t, device, db, counter, "the message")
	if err != nil {
		t.Fatal(err)
	}
	if len(trips) != 1 {
		t.Errorf("the insert with the held writes took %d round trips, want 1: %q", len(trips), trips)
	}
	if s, sk, buf, keyStored := stateOf(t, raw, hash, k2); s != "after" || sk != "chain 2" || !buf || !keyStored {
		t.Errorf("after the insert: session %q, sender key %q, buffered %v, key stored %v", s, sk, buf, keyStored)
	}
	var rows int
	if err = db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("the inbox holds %d rows (%v), want 1", rows, err)
	}
	select {
	case data := <-loaded:
		if data != "after" {
			t.Errorf("the waiting load read %q after the insert, want the decryption's record", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting load still waits after the insert carried the writes")
	}
	ids.lock.Lock()
	known2 := ids.known[addr]
	ids.lock.Unlock()
	if known2 != k2 {
		t.Error("the carried identity key is not remembered")
	}
	if again, _ := Take(device); again != nil {
		t.Error("the held decryption can be taken twice")
	}
}

// TestHeldDecryptionFailedInsert: when the carrying statement fails, nothing of the decryption is
// written nor remembered, the session's lease ends, and a delivery of the message again decrypts
// from the stored record.
func TestHeldDecryptionFailedInsert(t *testing.T) {
	device, raw, db, counter := newCarryingDevice(t)
	ids := device.Identities.(*Identities)
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := device.SenderKeys.PutSenderKey(ctx, groupID, groupUser, []byte("chain 1")); err != nil {
		t.Fatal(err)
	}
	k2, hash := [32]byte{2}, [32]byte{0x32}
	if err := device.EventBuffer.DoDecryptionTxn(ctx, decryptionWrites(t, device, hash, k2)); err != nil {
		t.Fatal(err)
	}
	// The inbox refuses the row (NOT NULL): the whole statement fails.
	if _, err := carryInsert(t, device, db, counter, nil); err == nil {
		t.Fatal("the insert of a NULL payload succeeded")
	}
	if s, sk, buf, _ := stateOf(t, raw, hash, k2); s != "before" || sk != "chain 1" || buf {
		t.Errorf("after the failed insert: session %q, sender key %q, buffered %v; want nothing written", s, sk, buf)
	}
	ids.lock.Lock()
	known := ids.known[addr]
	ids.lock.Unlock()
	if known == k2 {
		t.Error("the failed decryption's identity key is remembered")
	}
	loaded := make(chan string, 1)
	go func() {
		data, _ := device.Sessions.GetSession(ctx, addr)
		loaded <- string(data)
	}()
	select {
	case data := <-loaded:
		if data != "before" {
			t.Errorf("after the failed insert another goroutine loads %q, want the stored record", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session is still leased after the failed insert")
	}
}

// TestHeldDecryptionWrittenWithoutInsert: writes the handler did not carry are written on their own
// before whatsmeow clears the plaintext (the receipt follows), before the same goroutine's next
// decryption or look-up, after PendingDelay, and by Flush.
func TestHeldDecryptionWrittenWithoutInsert(t *testing.T) {
	device, raw, _, counter := newCarryingDevice(t)
	ctx := context.Background()
	decrypt := func(hash [32]byte, record string) { t.Helper(); decryptRecord(t, device, hash, record) }
	stored := func() string { t.Helper(); return storedRecord(t, raw) }

	// The handler ignored the message: the clear writes the held statement first.
	decrypt([32]byte{0x41}, "r1")
	before := counter.count()
	if err := device.EventBuffer.ClearBufferedEventPlaintext(ctx, [32]byte{0x41}); err != nil {
		t.Fatal(err)
	}
	if trips := counter.since(before); len(trips) != 1 || !strings.Contains(trips[0], "whatsmeow_sessions") {
		t.Errorf("the clear took %q, want the held statement alone", trips)
	}
	if got := stored(); got != "r1" {
		t.Errorf("after the clear the stored record is %q, want r1", got)
	}

	// The next look-up of the same goroutine writes the previous held statement first.
	decrypt([32]byte{0x42}, "r2")
	if _, err := device.EventBuffer.GetBufferedEvent(ctx, [32]byte{0x43}); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "r2" {
		t.Errorf("after the next look-up the stored record is %q, want r2", got)
	}

	// The next decryption of the same goroutine writes the previous one first.
	decrypt([32]byte{0x44}, "r3")
	decrypt([32]byte{0x45}, "r4")
	if got := stored(); got != "r3" {
		t.Errorf("after the next decryption the stored record is %q, want r3 (r4 still held)", got)
	}

	// Flush writes what is held.
	if err := Flush(ctx, device); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != "r4" {
		t.Errorf("after Flush the stored record is %q, want r4", got)
	}

	// Nothing takes it: it is written after PendingDelay, and its lease ends then.
	decrypt([32]byte{0x46}, "r5")
	deadline := time.Now().Add(10 * time.Second)
	for stored() != "r5" {
		if time.Now().After(deadline) {
			t.Fatal("the held statement was not written on its own")
		}
		time.Sleep(20 * time.Millisecond)
	}
	loaded := make(chan string, 1)
	go func() {
		data, _ := device.Sessions.GetSession(ctx, addr)
		loaded <- string(data)
	}()
	select {
	case data := <-loaded:
		if data != "r5" {
			t.Errorf("after the delayed write another goroutine loads %q", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session is still leased after the delayed write")
	}
}

// TestRealDecryptionCarried runs libsignal's ciphers against a carrying device as whatsmeow and the
// bridge's handler do: each decrypted message is written by the insert that stores it. A message
// whose insert failed decrypts again when it is delivered again (nothing of the first decryption
// was written or kept), and the messages after it decrypt as usual.
func TestRealDecryptionCarried(t *testing.T) {
	ctx := context.Background()
	bridge, raw, db, counter := newCarryingDevice(t)
	peer := newPeerSession(t, bridge, "4915100000001")
	contact, contactCipher, bridgeCipher := peer.contact, peer.contactCipher, peer.bridgeCipher

	// deliver decrypts ciphertext as whatsmeow's bufferedDecrypt does and stores it as the
	// handler does, with payload nil making the insert fail; it returns the plaintext and the
	// round trips of decryption and insert.
	deliver := func(hash byte, ciphertext []byte, preKey bool, payload func(string) any) (string, []string, error) {
		t.Helper()
		before := counter.count()
		var plaintext []byte
		err := bridge.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) (err error) {
			if preKey {
				msg, err := protocol.NewPreKeySignalMessageFromBytes(ciphertext, ser.PreKeySignalMessage, ser.SignalMessage)
				if err != nil {
					return err
				}
				plaintext, err = bridgeCipher.DecryptMessage(ctx, msg)
				if err != nil {
					return err
				}
			} else {
				msg, err := protocol.NewSignalMessageFromBytes(ciphertext, ser.SignalMessage)
				if err != nil {
					return err
				}
				if plaintext, err = bridgeCipher.Decrypt(ctx, msg); err != nil {
					return err
				}
			}
			return bridge.EventBuffer.PutBufferedEvent(ctx, [32]byte{hash}, plaintext, time.Unix(1700000000, 0))
		})
		if err != nil {
			t.Fatalf("decrypting message %d: %v", hash, err)
		}
		_, err = carryInsert(t, bridge, db, counter, payload(string(plaintext)))
		return string(plaintext), counter.since(before), err
	}
	stored := func(p string) any { return p }
	refused := func(string) any { return nil }

	first, err := contactCipher.Encrypt(ctx, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := deliver(1, first.Serialize(), true, stored); err != nil || got != "hello" {
		t.Fatalf("the prekey message: %q, %v", got, err)
	}
	reply, err := bridgeCipher.Encrypt(ctx, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	ReleaseSender(bridge, *contact.ID)
	replyMsg, err := protocol.NewSignalMessageFromBytes(reply.Serialize(), ser.SignalMessage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = contactCipher.Decrypt(ctx, replyMsg); err != nil {
		t.Fatal(err)
	}

	second, err := contactCipher.Encrypt(ctx, []byte("how are you"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = deliver(2, second.Serialize(), false, refused); err == nil {
		t.Fatal("the refused insert succeeded")
	}
	if evt, _ := raw.GetBufferedEvent(ctx, [32]byte{2}); evt != nil {
		t.Error("the refused insert's decryption buffered its plaintext")
	}
	// WhatsApp delivers it again: it decrypts from the stored session.
	got, trips, err := deliver(2, second.Serialize(), false, stored)
	if err != nil || got != "how are you" {
		t.Fatalf("the message delivered again: %q, %v", got, err)
	}
	t.Logf("delivered again: %q", trips)

	third, err := contactCipher.Encrypt(ctx, []byte("fine"))
	if err != nil {
		t.Fatal(err)
	}
	got, trips, err = deliver(3, third.Serialize(), false, stored)
	if err != nil || got != "fine" {
		t.Fatalf("the next message: %q, %v", got, err)
	}
	if len(trips) != 1 || !strings.HasPrefix(trips[0], "Exec WITH") || !strings.Contains(trips[0], "INSERT INTO inbox") {
		t.Errorf("a normal message and its insert took %q, want the one carrying statement", trips)
	}
	if evt, _ := raw.GetBufferedEvent(ctx, [32]byte{3}); evt == nil || string(evt.Plaintext) != "fine" {
		t.Errorf("the carried decryption buffered %+v", evt)
	}
	var rows int
	if err = db.QueryRow(ctx, `SELECT COUNT(*) FROM inbox`).Scan(&rows); err != nil || rows != 3 {
		t.Errorf("the inbox holds %d rows (%v), want 3", rows, err)
	}
}

// TestHeldDecryptionFailureIsReported: held writes that fail when written on their own fail the
// handler that asks for them afterwards (WriteHeld, or Take after PendingDelay wrote them), so
// that whatsmeow sends no receipt; the session is left as stored and its lease ends. ReleaseSender
// (after an undecryptable message) writes the goroutine's held decryption before it ends leases.
func TestHeldDecryptionFailureIsReported(t *testing.T) {
	device, raw, _, _ := newCarryingDevice(t)
	ctx := context.Background()
	if err := device.Sessions.PutSession(ctx, addr, []byte("before")); err != nil {
		t.Fatal(err)
	}
	// A buffered event with the decryption's hash exists already: its insert fails.
	dup := [32]byte{0x51}
	if err := raw.PutBufferedEvent(ctx, dup, []byte("older"), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	decrypt := func(hash [32]byte, record string) { t.Helper(); decryptRecord(t, device, hash, record) }
	stored := func() string { t.Helper(); return storedRecord(t, raw) }

	decrypt(dup, "r1")
	if err := WriteHeld(ctx, device); err == nil {
		t.Error("WriteHeld reported no failure of a statement that failed")
	}
	if got := stored(); got != "before" {
		t.Errorf("after the failed write the stored record is %q", got)
	}
	if err := WriteHeld(ctx, device); err != nil {
		t.Errorf("the failure was reported twice: %v", err)
	}

	// Written by the timer meanwhile: the next Take reports it.
	decrypt(dup, "r2")
	time.Sleep(PendingDelay + 300*time.Millisecond)
	if held, err := Take(device); held != nil || err == nil {
		t.Errorf("Take after the delayed write failed returned %v, %v; want the failure", held, err)
	}
	loaded := make(chan string, 1)
	go func() {
		data, _ := device.Sessions.GetSession(ctx, addr)
		loaded <- string(data)
	}()
	select {
	case data := <-loaded:
		if data != "before" {
			t.Errorf("after the failed delayed write another goroutine loads %q", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session is still leased after the failed delayed write")
	}

	// ReleaseSender writes the held decryption first.
	decrypt([32]byte{0x52}, "r3")
	ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))
	if got := stored(); got != "r3" {
		t.Errorf("after ReleaseSender the stored record is %q, want the held decryption's", got)
	}
}

// TestOwnDeviceDecryptionNotHeld: the decryption of a message from one of the account's own
// devices is written when it returns, as without CarryDecryptions; and ReleaseSender on another
// goroutine (an undecryptable message from the same sender) does not end the lease of a held
// decryption.
func TestOwnDeviceDecryptionNotHeld(t *testing.T) {
	device, raw, _, _ := newCarryingDevice(t)
	ctx := context.Background()
	own := device.ID.ToNonAD()
	own.Device = 2
	ownAddr := own.SignalAddress().String()
	err := device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		if err := device.Sessions.PutSession(ctx, ownAddr, []byte("phone")); err != nil {
			return err
		}
		return device.EventBuffer.PutBufferedEvent(ctx, [32]byte{0x61}, []byte("from the phone"), time.Unix(1700000000, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := raw.GetSession(ctx, ownAddr); string(data) != "phone" {
		t.Errorf("the own device's decryption was held: stored record %q", data)
	}
	if held, _ := Take(device); held != nil {
		t.Error("the own device's decryption can be taken")
	}

	// A contact's decryption is held; another goroutine's ReleaseSender leaves its lease.
	if err = device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		if _, err := device.Sessions.GetSession(ctx, addr); err != nil {
			return err
		}
		return device.Sessions.PutSession(ctx, addr, []byte("held"))
	}); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		ReleaseSender(device, types.NewJID("4915100000001", types.DefaultUserServer))
		close(released)
	}()
	<-released
	loaded := make(chan string, 1)
	go func() {
		data, _ := device.Sessions.GetSession(ctx, addr)
		loaded <- string(data)
	}()
	select {
	case data := <-loaded:
		t.Fatalf("after another goroutine's ReleaseSender a load read %q while the decryption was held", data)
	case <-time.After(100 * time.Millisecond):
	}
	if err = WriteHeld(ctx, device); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-loaded:
		if data != "held" {
			t.Errorf("after the held write the load read %q", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the load still waits after the held write")
	}
}
