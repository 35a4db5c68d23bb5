package sessionlock

import (
	"context"
	"slices"

	"github.com/petermattis/goid"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
)

// The Store's record reads and writes: the deferred decryption's batch first (batch.go), then the
// goroutine's own writes inside a decryption transaction, then the records known committed
// (cache.go), then the database.

// foreignTxn reports whether ctx carries a transaction of the store's database other than a
// decryption transaction of this goroutine: there the database may hold writes the cache does not
// know, so the cache is neither read nor filled.
func (s *Store) foreignTxn(ctx context.Context, me int64) bool {
	if s.db == nil || s.decrypting[me] > 0 && !s.afterDecrypt[me] {
		return false
	}
	_, ok := s.db.Execable(ctx).(dbutil.Transaction)
	return ok
}

// cached returns what goroutine me knows of address without the database: its own write inside
// a decryption transaction (data nil: deleted), else the cached record. ok is false when the
// database must be asked.
func (s *Store) cached(ctx context.Context, address string) (data []byte, ok bool) {
	if bt := s.batcher.of(ctx); bt != nil {
		if data, ok = bt.session(address); ok {
			return data, true
		}
	}
	me := goid.Get()
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.foreignTxn(ctx, me) {
		return nil, false
	}
	if p, ok := s.pending[me][address]; ok {
		if p.del {
			return nil, true
		}
		return slices.Clone(p.data), true
	}
	return s.records.get(address)
}

// load loads address's record (nil: none).
func (s *Store) load(ctx context.Context, address string) ([]byte, error) {
	if data, ok := s.cached(ctx, address); ok {
		return data, nil
	}
	return s.SessionStore.GetSession(ctx, address)
}

// loadMany is load for several addresses: a map with every address, nil for those without a
// record (as whatsmeow's SQLStore.GetManySessions answers), with one statement for those not
// known.
func (s *Store) loadMany(ctx context.Context, addresses []string) (map[string][]byte, error) {
	result := make(map[string][]byte, len(addresses))
	var missing []string
	for _, address := range addresses {
		if data, ok := s.cached(ctx, address); ok {
			result[address] = data
		} else {
			missing = append(missing, address)
		}
	}
	if len(missing) > 0 {
		stored, err := s.SessionStore.GetManySessions(ctx, missing)
		if err != nil {
			return nil, err
		}
		for _, address := range missing {
			result[address] = stored[address]
		}
	}
	return result, nil
}

// HasSession reports whether address has a record (libsignal's session cipher asks before
// decrypting every normal message).
func (s *Store) HasSession(ctx context.Context, address string) (bool, error) {
	if data, ok := s.cached(ctx, address); ok {
		return data != nil, nil
	}
	return s.SessionStore.HasSession(ctx, address)
}

// write runs do, the database write of the records in writes (nil: deleted), and keeps the cache
// right: inside a decryption transaction the writes are noted for its end (and do runs inside
// it, or is a deferred write); inside another transaction the addresses are forgotten; otherwise
// (also after a decryption whose writes are held returned, hold.go) each record is kept once do
// succeeded.
func (s *Store) write(ctx context.Context, writes map[string][]byte, do func() error) error {
	me := goid.Get()
	s.lock.Lock()
	switch {
	case s.decrypting[me] > 0 && !s.afterDecrypt[me]:
		if s.pending[me] == nil {
			s.pending[me] = make(map[string]pendingWrite)
		}
		for address, data := range writes {
			if p, ok := s.pending[me][address]; ok {
				p.data, p.del = slices.Clone(data), data == nil
				s.pending[me][address] = p
			} else {
				s.pending[me][address] = s.records.begin(address, data, data == nil, true)
			}
		}
		s.lock.Unlock()
		return do()
	case s.foreignTxn(ctx, me):
		for address := range writes {
			s.records.forget(address)
		}
		s.lock.Unlock()
		return do()
	}
	started := make(map[string]pendingWrite, len(writes))
	for address, data := range writes {
		started[address] = s.records.begin(address, data, data == nil, false)
	}
	s.lock.Unlock()
	err := do()
	outcome := writeFailed
	if err == nil {
		outcome = writeCommitted
	}
	s.lock.Lock()
	for address, p := range started {
		s.records.end(address, p, outcome)
	}
	s.lock.Unlock()
	return err
}

// endPending ends the writes goroutine me made inside its decryption transaction (caller holds
// lock).
func (s *Store) endPending(me int64, outcome writeOutcome) {
	for address, p := range s.pending[me] {
		s.records.end(address, p, outcome)
	}
	delete(s.pending, me)
}

// discard ends, as never sent, the writes goroutine me made in a deferred decryption that wrote
// nothing (batch.go); the cache is left as it was.
func (s *Store) discard(me int64) {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.endPending(me, writeNotSent)
}

// PutSession stores address's record and ends its lease.
func (s *Store) PutSession(ctx context.Context, address string, session []byte) error {
	if session == nil {
		session = []byte{} // a stored empty record, not a delete
	}
	err := s.write(ctx, map[string][]byte{address: session}, func() error {
		if bt := s.batcher.of(ctx); bt != nil {
			bt.putSession(address, session)
			return nil
		}
		return s.SessionStore.PutSession(ctx, address, session)
	})
	s.stored(ctx, []string{address})
	return err
}

// PutManySessions stores the records and ends their leases.
func (s *Store) PutManySessions(ctx context.Context, sessions map[string][]byte) error {
	writes := make(map[string][]byte, len(sessions))
	addresses := make([]string, 0, len(sessions))
	for address, session := range sessions {
		if session == nil {
			session = []byte{}
		}
		writes[address] = session
		addresses = append(addresses, address)
	}
	err := s.write(ctx, writes, func() error {
		if bt := s.batcher.of(ctx); bt != nil {
			for address, session := range writes {
				bt.putSession(address, session)
			}
			return nil
		}
		if done, err := s.putManyOneStatement(ctx, writes); done {
			return err
		}
		return s.SessionStore.PutManySessions(ctx, sessions)
	})
	s.stored(ctx, addresses)
	return err
}

// DeleteSession deletes address's record; inside a deferred decryption the delete is deferred.
func (s *Store) DeleteSession(ctx context.Context, address string) error {
	return s.write(ctx, map[string][]byte{address: nil}, func() error {
		if bt := s.batcher.of(ctx); bt != nil {
			bt.deleteSession(address)
			return nil
		}
		return s.SessionStore.DeleteSession(ctx, address)
	})
}

// bulk runs do, a write by whatsmeow's own SQL of every record of the Signal users, forgetting
// them before and after.
func (s *Store) bulk(do func() error, users ...string) error {
	s.lock.Lock()
	s.records.bulkBegin(users...)
	s.lock.Unlock()
	err := do()
	s.lock.Lock()
	s.records.bulkEnd(users...)
	s.lock.Unlock()
	return err
}

// DeleteAllSessions deletes the records of all of a phone number's devices (whatsmeow's
// SQLStore.DeleteAllSessions: their_id LIKE phone:%); refused inside a deferred decryption.
func (s *Store) DeleteAllSessions(ctx context.Context, phone string) error {
	if bt := s.batcher.of(ctx); bt != nil {
		return bt.refuse("DeleteAllSessions")
	}
	return s.bulk(func() error { return s.SessionStore.DeleteAllSessions(ctx, phone) }, phone)
}

// MigratePNToLID moves the Signal sessions, identity keys and sender keys of a phone number's
// devices to its LID, then makes the identity key wrapper and the record cache forget those of
// both.
//
// whatsmeow calls it before nearly every message to or from a phone number that has a LID, but
// its SQL store changes the database only at the first call for a phone number in a process (the
// migratedPNSessionsCache of go.mau.fi/whatsmeow/store/sqlstore's SQLStore.MigratePNToLID): it
// deletes the phone number's rows and copies them over the LID's with statements of its own,
// past the wrapper. Forgetting at every call would make every such message load and store them
// in the database again, so a call forgets only when no call for the phone number had finished
// when it started: the call that changed the database is such a call.
func (s *Store) MigratePNToLID(ctx context.Context, pn, lid types.JID) error {
	if bt := s.batcher.of(ctx); bt != nil {
		return bt.refuse("MigratePNToLID")
	}
	pnUser, lidUser := pn.SignalAddressUser(), lid.SignalAddressUser()
	s.lock.Lock()
	ids := s.identities
	_, done := s.migrated[pnUser]
	s.lock.Unlock()
	if done {
		return s.SessionStore.MigratePNToLID(ctx, pn, lid)
	}
	err := s.bulk(func() error { return s.SessionStore.MigratePNToLID(ctx, pn, lid) }, pnUser, lidUser)
	if ids != nil {
		ids.forgetUsers(pnUser, lidUser)
	}
	s.lock.Lock()
	if s.migrated == nil {
		s.migrated = make(map[string]struct{})
	}
	s.migrated[pnUser] = struct{}{}
	s.lock.Unlock()
	return err
}
