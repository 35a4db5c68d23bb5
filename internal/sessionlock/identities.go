package sessionlock

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/petermattis/goid"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
)

// Identities is a store.IdentityStore that remembers the identity keys the database holds, so that
// the keys whatsmeow checks and stores again with every message it encrypts or decrypts
// (store.Device.IsTrustedIdentity and SaveIdentity, called by the Signal session cipher) cost no
// database statement while they have not changed. The embedded store does the storage.
//
// A key is remembered only once it is known to be committed: stored outside any transaction, or
// inside whatsmeow's decryption transaction once that transaction committed (IdentityBuffer); a
// store or delete inside another transaction only forgets the address. Forgetting is always safe
// (the next check asks the database); remembering a key the database does not hold would make a
// contact's unchanged key look changed.
//
// A delete (or a migration of a phone number's keys to its LID, Store.MigratePNToLID) can land
// between a store's statement and the store's update of the memory. So every delete bumps a
// generation, and a store remembers its key only when the generation is still the one from before
// its statement (for a decryption transaction: from its beginning).
type Identities struct {
	store.IdentityStore
	db *dbutil.Database

	lock sync.Mutex
	// known maps a Signal address to the key the database holds for it.
	known map[string][32]byte
	// pending holds, per goroutine inside a decryption transaction, the keys it stored (nil:
	// deleted) until the transaction ends; depth counts its nested decryption transactions.
	pending map[int64]map[string]*[32]byte
	depth   map[int64]int
	// gen counts the deletes (forgetUsers included); txnGen holds, per goroutine inside a decryption transaction, gen at
	// the transaction's beginning.
	gen    uint64
	txnGen map[int64]uint64
	// batcher defers the stores and deletes of a decryption to one statement (batch.go); nil:
	// never.
	batcher *batcher
}

// newIdentities wraps inner; db is the database it writes to (nil: never inside a transaction
// other than the decryption one).
func newIdentities(inner store.IdentityStore, db *dbutil.Database) *Identities {
	return &Identities{IdentityStore: inner, db: db, known: make(map[string][32]byte),
		pending: make(map[int64]map[string]*[32]byte), depth: make(map[int64]int), txnGen: make(map[int64]uint64)}
}

// current returns what goroutine me sees for address: its own uncommitted change first. ok is
// false when nothing is known (the database must be asked); deleted reports a deletion.
func (s *Identities) current(me int64, address string) (key [32]byte, deleted, ok bool) {
	if change, in := s.pending[me][address]; in {
		if change == nil {
			return key, true, true
		}
		return *change, false, true
	}
	key, ok = s.known[address]
	return key, false, ok
}

// otherTxn reports whether ctx carries a transaction of the database other than whatsmeow's
// decryption transaction of goroutine me (caller holds lock).
func (s *Identities) otherTxn(ctx context.Context, me int64) bool {
	if s.depth[me] > 0 || s.db == nil {
		return false
	}
	_, ok := s.db.Execable(ctx).(dbutil.Transaction)
	return ok
}

// IsTrustedIdentity answers from memory when the address's key is known: trusted when it is the
// same key (or none is stored, as whatsmeow's SQL store answers).
func (s *Identities) IsTrustedIdentity(ctx context.Context, address string, key [32]byte) (bool, error) {
	me := goid.Get()
	s.lock.Lock()
	have, deleted, ok := s.current(me, address)
	s.lock.Unlock()
	if ok {
		return deleted || have == key, nil
	}
	return s.IdentityStore.IsTrustedIdentity(ctx, address, key)
}

// PutIdentity stores key unless the database holds it already.
func (s *Identities) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	me := goid.Get()
	s.lock.Lock()
	have, deleted, ok := s.current(me, address)
	gen := s.gen
	s.lock.Unlock()
	if ok && !deleted && have == key {
		return nil
	}
	var err error
	if bt := s.batcher.of(ctx); bt != nil {
		bt.putIdentity(address, key)
	} else {
		err = s.IdentityStore.PutIdentity(ctx, address, key)
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	switch {
	case err != nil || s.gen != gen || s.otherTxn(ctx, me):
		delete(s.known, address)
		delete(s.pending[me], address)
	case s.depth[me] > 0:
		s.pending[me][address] = &key
	default:
		s.known[address] = key
	}
	return err
}

// DeleteIdentity deletes the address's key and forgets it.
func (s *Identities) DeleteIdentity(ctx context.Context, address string) error {
	me := goid.Get()
	var err error
	if bt := s.batcher.of(ctx); bt != nil {
		bt.deleteIdentity(address)
	} else {
		err = s.IdentityStore.DeleteIdentity(ctx, address)
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	s.gen++
	delete(s.known, address)
	if err == nil && s.depth[me] > 0 && !s.otherTxn(ctx, me) {
		s.pending[me][address] = nil
	} else {
		delete(s.pending[me], address)
	}
	return err
}

// DeleteAllIdentities deletes the keys of all of a phone number's devices and forgets every key
// (it happens when a contact re-registers: rarely).
func (s *Identities) DeleteAllIdentities(ctx context.Context, phone string) error {
	if bt := s.batcher.of(ctx); bt != nil {
		return bt.refuse("DeleteAllIdentities")
	}
	err := s.IdentityStore.DeleteAllIdentities(ctx, phone)
	s.lock.Lock()
	defer s.lock.Unlock()
	s.gen++
	clear(s.known)
	for _, changes := range s.pending {
		clear(changes)
	}
	return err
}

// forgetUsers forgets the keys of every device of the Signal address users (the part of an
// address before the colon), after the database changed them behind the wrapper's back.
func (s *Identities) forgetUsers(users ...string) {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.gen++
	ofUsers := func(address string) bool {
		user, _, _ := strings.Cut(address, ":")
		return slices.Contains(users, user)
	}
	maps.DeleteFunc(s.known, func(address string, _ [32]byte) bool { return ofUsers(address) })
	for _, changes := range s.pending {
		maps.DeleteFunc(changes, func(address string, _ *[32]byte) bool { return ofUsers(address) })
	}
}

// beginTxn and endTxn bracket a decryption transaction of goroutine me; committed tells whether it
// committed, and only then, and if nothing was deleted since the transaction began, are its stored
// keys remembered.
func (s *Identities) beginTxn(me int64) {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.depth[me]++; s.depth[me] == 1 {
		s.pending[me] = make(map[string]*[32]byte)
		s.txnGen[me] = s.gen
	}
}

func (s *Identities) endTxn(me int64, committed bool) {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.depth[me]--; s.depth[me] > 0 {
		return
	}
	delete(s.depth, me)
	publish := committed && s.txnGen[me] == s.gen
	delete(s.txnGen, me)
	for address, key := range s.pending[me] {
		if publish && key != nil {
			s.known[address] = *key
		} else {
			delete(s.known, address)
		}
	}
	delete(s.pending, me)
}

// discard drops the changes goroutine me made inside its decryption transaction, which wrote
// none of them (a deferred decryption that failed or runs again in a transaction, batch.go): the
// memory is left as it was before the transaction. It does nothing on a nil Identities.
func (s *Identities) discard(me int64) {
	if s == nil {
		return
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	if _, ok := s.pending[me]; ok {
		s.pending[me] = make(map[string]*[32]byte)
	}
}

// identityBuffer tells the identity store where whatsmeow's decryption transactions begin and end.
type identityBuffer struct {
	store.EventBuffer
	identities *Identities
}

// DoDecryptionTxn runs fn in whatsmeow's decryption transaction; the keys stored inside it are
// remembered once it committed.
// A decryption whose writes are held (hold.go) ends when they have been written.
func (b *identityBuffer) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	me := goid.Get()
	ctx, h, outer := b.identities.batcher.holdIn(ctx, me)
	b.identities.beginTxn(me)
	committed, held := false, false
	defer func() {
		if !held {
			b.identities.endTxn(me, committed)
		}
	}()
	err := b.EventBuffer.DoDecryptionTxn(ctx, fn)
	committed = err == nil
	held = committed && h.keep(func(committed bool) { b.identities.endTxn(me, committed) }, outer)
	return err
}
