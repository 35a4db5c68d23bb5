package sessionlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
)

// Deferred decryption writes (PostgreSQL only).
//
// whatsmeow decrypts an incoming message inside store.EventBuffer.DoDecryptionTxn (Client.
// bufferedDecrypt) so that the advanced ratchet state and the buffered plaintext are committed
// together: a crash between the two would leave a message that can be neither decrypted again nor
// read from the buffer. In a real transaction that costs BEGIN, the session load, the session
// store, the buffered event insert and COMMIT: five database round trips.
//
// On PostgreSQL batchBuffer runs the decryption without a transaction. The writes made inside it
// (Signal sessions, identity keys, sender keys, the removal of a one-time prekey, the buffered
// plaintext) are held in a batch carried by the decryption's ctx, served back to that
// decryption's own reads, and written at the end by a single statement of data-modifying CTEs
// (batchsql.go), which PostgreSQL runs atomically. A decryption that fails writes nothing, as a
// rollback would.
//
// Every write the decryption can make goes through one of the wrappers sharing the batcher (Store,
// Identities, preKeyStore, senderKeyStore, batchBuffer): libsignal's session cipher, session
// builder and group cipher reach the device only through store.Device's signal.go methods, which
// use exactly those four stores, and whatsmeow's closure adds the identity and session deletes of
// Client.clearUntrustedIdentity and PutBufferedEvent. A write a batch cannot hold (say
// DeleteAllSessions) is refused with errNotBatched and marks the batch; the decryption is then
// run again from scratch inside the real transaction. Running it again is equivalent because
// nothing was written and no memory was changed: the batch is dropped, and the identity keys the
// first run stored are dropped from Identities' pending changes (Identities.discard).
//
// SQLite keeps the real transaction: it has no data-modifying CTEs.

// errNotBatched is returned by a write that a deferred decryption cannot hold; the decryption is
// then run again inside a real transaction.
var errNotBatched = errors.New("write not supported in a deferred decryption")

// batcher is shared by the wrappers of one device whose writes can be deferred: it names the
// device's whatsmeow SQL store (whose tables and our_jid the combined statement writes) and the
// database it writes to.
type batcher struct {
	db    *dbutil.Database
	jid   string // sqlstore.SQLStore.JID: the our_jid (jid for prekeys) of every row
	inner *sqlstore.SQLStore
	log   zerolog.Logger
	// pending are the device's writes that ride along with its next statement (pending.go).
	pending pendingWrites
	// known answers most of the device's buffered-event look-ups (knownhashes.go).
	known *knownHashes
	// holds are the decryptions whose writes wait for the event's insert (hold.go).
	holds holds
	// device is the device whose store the batcher writes; its ID and LID tell the account's own
	// devices, whose messages' decryptions are not held (hold.go).
	device *store.Device
}

// newBatcher returns a batcher for device when its writes can be deferred: db is PostgreSQL and
// the device's event buffer, session, identity, prekey and sender key stores are one whatsmeow
// SQL store (so the combined statement writes the rows those stores would). Otherwise nil.
func newBatcher(device *store.Device, db *dbutil.Database, log zerolog.Logger) *batcher {
	if db == nil || db.Dialect != dbutil.Postgres {
		return nil
	}
	inner, ok := device.EventBuffer.(*sqlstore.SQLStore)
	if !ok || inner == nil {
		return nil
	}
	for _, s := range []any{device.Sessions, device.Identities, device.PreKeys, device.SenderKeys} {
		if s != any(inner) {
			return nil
		}
	}
	b := &batcher{db: db, jid: inner.JID, inner: inner, log: log, device: device}
	b.known = knownHashesFor(b)
	return b
}

type batchKey struct{}

// of returns the batch of the deferred decryption ctx belongs to, or nil. A batch of another
// device's batcher does not count.
func (br *batcher) of(ctx context.Context) *batch {
	if br == nil {
		return nil
	}
	b, _ := ctx.Value(batchKey{}).(*batch)
	if b == nil || b.owner != br {
		return nil
	}
	return b
}

// batch holds the writes of one deferred decryption, in their final state per row: a row written
// twice holds the last write (a statement may not change one row twice).
type batch struct {
	owner *batcher

	lock       sync.Mutex
	sessions   map[string]*[]byte // Signal address -> record; nil: deleted
	identities map[string]*[32]byte
	senderKeys map[senderKeyID][]byte
	preKeys    map[uint32]struct{} // removed one-time prekey IDs
	events     []bufferedEvent
	// refused names the first write the batch could not hold ("" when none).
	refused string
}

type senderKeyID struct{ group, user string }

// bufferedEvent is one PutBufferedEvent: insertMS is the insert time in Unix milliseconds, taken
// at the call as whatsmeow's SQLStore.PutBufferedEvent takes it.
type bufferedEvent struct {
	hash      [32]byte
	plaintext []byte
	server    time.Time
	insertMS  int64
}

func newBatch(owner *batcher) *batch {
	return &batch{owner: owner, sessions: make(map[string]*[]byte), identities: make(map[string]*[32]byte),
		senderKeys: make(map[senderKeyID][]byte), preKeys: make(map[uint32]struct{})}
}

// refuse marks the batch as unable to hold the write what and returns errNotBatched.
func (b *batch) refuse(what string) error {
	b.lock.Lock()
	defer b.lock.Unlock()
	if b.refused == "" {
		b.refused = what
	}
	return fmt.Errorf("%w: %s", errNotBatched, what)
}

// empty reports whether the batch writes nothing.
func (b *batch) empty() bool {
	b.lock.Lock()
	defer b.lock.Unlock()
	return b.emptyLocked()
}

// emptyLocked reports whether the batch writes nothing. Caller holds lock.
func (b *batch) emptyLocked() bool {
	return len(b.sessions) == 0 && len(b.identities) == 0 && len(b.senderKeys) == 0 && len(b.preKeys) == 0 && len(b.events) == 0
}

func (b *batch) isRefused() bool {
	b.lock.Lock()
	defer b.lock.Unlock()
	return b.refused != ""
}

// session returns the batch's record for address: ok is false when the batch has none, data nil
// when it deleted it. data is a copy.
func (b *batch) session(address string) (data []byte, ok bool) {
	b.lock.Lock()
	defer b.lock.Unlock()
	rec, ok := b.sessions[address]
	if rec == nil {
		return nil, ok
	}
	return slices.Clone(*rec), true
}

func (b *batch) putSession(address string, data []byte) {
	b.lock.Lock()
	defer b.lock.Unlock()
	c := slices.Clone(data)
	if c == nil {
		c = []byte{} // a stored empty record, not a delete
	}
	b.sessions[address] = &c
}

func (b *batch) deleteSession(address string) {
	b.lock.Lock()
	defer b.lock.Unlock()
	b.sessions[address] = nil
}

func (b *batch) putIdentity(address string, key [32]byte) {
	b.lock.Lock()
	defer b.lock.Unlock()
	b.identities[address] = &key
}

func (b *batch) deleteIdentity(address string) {
	b.lock.Lock()
	defer b.lock.Unlock()
	b.identities[address] = nil
}

func (b *batch) senderKey(group, user string) (data []byte, ok bool) {
	b.lock.Lock()
	defer b.lock.Unlock()
	data, ok = b.senderKeys[senderKeyID{group, user}]
	return slices.Clone(data), ok
}

func (b *batch) putSenderKey(group, user string, data []byte) {
	b.lock.Lock()
	defer b.lock.Unlock()
	c := slices.Clone(data)
	if c == nil {
		c = []byte{}
	}
	b.senderKeys[senderKeyID{group, user}] = c
}

func (b *batch) removePreKey(id uint32) {
	b.lock.Lock()
	defer b.lock.Unlock()
	b.preKeys[id] = struct{}{}
}

func (b *batch) preKeyRemoved(id uint32) bool {
	b.lock.Lock()
	defer b.lock.Unlock()
	_, ok := b.preKeys[id]
	return ok
}

// putEvent records a buffered event; a second one for the same hash (whose INSERT would fail on
// the primary key) is refused, so that the real transaction reports what whatsmeow would.
func (b *batch) putEvent(hash [32]byte, plaintext []byte, server time.Time) error {
	b.lock.Lock()
	for _, e := range b.events {
		if e.hash == hash {
			b.lock.Unlock()
			return b.refuse("PutBufferedEvent twice")
		}
	}
	b.events = append(b.events, bufferedEvent{hash: hash, plaintext: slices.Clone(plaintext), server: server,
		insertMS: time.Now().UnixMilli()})
	b.lock.Unlock()
	return nil
}

func (b *batch) event(hash [32]byte) *store.BufferedEvent {
	b.lock.Lock()
	defer b.lock.Unlock()
	for _, e := range b.events {
		if e.hash == hash {
			// As whatsmeow's SQLStore.GetBufferedEvent reads it back: seconds and milliseconds.
			return &store.BufferedEvent{Plaintext: slices.Clone(e.plaintext), ServerTime: time.Unix(e.server.Unix(), 0),
				InsertTime: time.UnixMilli(e.insertMS)}
		}
	}
	return nil
}
