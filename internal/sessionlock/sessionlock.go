// Package sessionlock makes whatsmeow's uses of one Signal session take turns.
//
// whatsmeow loads a session record, advances it and stores it again both when it encrypts a
// message (Client.SendMessage, and the resend that answers a retry receipt) and when it decrypts
// one, with no lock shared between those paths (its messageSendLock covers sends only). When a
// message from a contact is decrypted while a message to the same contact is being encrypted, the
// store that lands last overwrites the other's ratchet step. If the decryption lands last, the
// session's sending chain goes back one step: the next message is encrypted with a counter the
// contact already used, and the contact's client drops it as "received message with old counter"
// without a retry receipt, so the message is lost silently. Signal's own clients put one lock
// around every encryption and decryption of a session for this reason (libsignal's SessionCipher
// is documented as not thread-safe).
//
// Install wraps a device's session store so that a load of a session's record leases that session
// to the loading goroutine until the same record is stored again: a load of it by another goroutine
// waits. A lease ends at the store (inside a transaction: when the transaction ends, see below);
// when the path that loaded the record never stores it (a decryption that failed, a send that
// ended early), it ends at the same goroutine's next load of
// that session (whatsmeow handles one incoming message after the other on one goroutine, and a
// sender's next send runs where its last one did) or after LeaseTimeout, so a forgotten lease
// delays, never blocks for good. A decryption that failed is reported by whatsmeow as an
// events.UndecryptableMessage: ReleaseSender ends the lease it left at once (not the lease of
// another goroutine's decryption in progress). A send loads the
// records of every device it encrypts for at its start (store.Device.WithCachedSessions) and
// stores only those it advanced, at its end: BeginSend and EndSend, around Client.SendMessage,
// mark the send, and EndSend ends the leases it left.
//
// The timeout must not end the lease of a holder that is only slow: two goroutines would then
// advance the session at once and one's step would be lost (the contact could no longer decrypt
// what the bridge sends, or the bridge what the contact sends). A send holds its leases while
// whatsmeow fetches the prekey bundles of devices without a session, a request that may take
// whatsmeow's 75-second request timeout, and a decryption holds its lease until its writes are
// done, however slow the database. So a lease whose holder is inside a marked send or inside a
// decryption transaction outlives the timeout, up to MaxActiveHold; only a lease whose holder is
// elsewhere (a path that forgot it) ends after LeaseTimeout.
//
// whatsmeow decrypts inside a database transaction (store.EventBuffer.DoDecryptionTxn). A record
// stored inside a transaction is not visible to other connections before the commit, so there a
// store does not end the lease: the leases the transaction's goroutine took end when
// DoDecryptionTxn returns, committed or rolled back (Install wraps the device's EventBuffer for
// this). Otherwise an encryption waiting for the lease would load the record as it was before the
// decryption and, storing after the commit, undo the decryption's ratchet step.
//
// On PostgreSQL the decryption runs without a transaction and its writes are made at its end by
// one statement (batch.go): there "the transaction ends" means that statement has run, written or
// failed, and the leases end after it. With CarryDecryptions that statement is the event handler's
// insert of the decrypted message, which carries the writes (hold.go); the leases end after it.
//
// Install also keeps the identity keys the device's store holds in memory (Identities), so that
// checking and storing a contact's unchanged key with every message costs no database statement.
// The Store likewise keeps the session records known committed (cache.go, records.go), so that
// loading the session of a contact already used costs none either.
//
// Loads inside a database transaction on SQLite take no lease: the bridge opens its SQLite
// transactions with BEGIN IMMEDIATE, which already keeps every other writer out until the commit,
// and waiting for a lease there could wait for a writer that waits for the transaction.
package sessionlock

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/petermattis/goid"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	// The Signal stores wrapped here serve libsignal calls from many goroutines; the import sets
	// libsignal's logger before any of them exists (see its doc).
	_ "github.com/matrix-whatsapp/matrix-whatsapp/internal/signallog"
)

// LeaseTimeout is how long a loaded session stays leased when its record is not stored again
// and its holder is not inside a send or a decryption (see the package documentation).
const LeaseTimeout = 5 * time.Second

// MaxActiveHold is how long a lease lasts at most while its holder is inside a send marked with
// BeginSend or inside a decryption transaction: beyond whatsmeow's 75-second request timeout, and
// a bound on how long two goroutines that wait for each other's sessions can stay stuck.
const MaxActiveHold = 2 * time.Minute

// Store is a store.SessionStore that leases a session from a load of its record until the next
// store of it (see the package documentation). The embedded store does the storage.
type Store struct {
	store.SessionStore
	db      *dbutil.Database
	log     zerolog.Logger
	timeout time.Duration
	// maxActive bounds a lease whose holder is inside a send or a decryption (MaxActiveHold).
	maxActive time.Duration

	lock sync.Mutex
	held map[string]*lease
	// inTxn lists, per goroutine, the addresses whose records it stored inside a transaction:
	// their leases end when the transaction does (endTxn).
	inTxn map[int64][]string
	// decrypting counts, per goroutine, the decryption transactions (DoDecryptionTxn) it is in:
	// loads and stores there are part of a transaction even when db is nil or is not the database
	// the device's store writes to.
	decrypting map[int64]int
	// sending counts, per goroutine, the sends (BeginSend) it is in.
	sending map[int64]int
	// identities is the device's identity key wrapper (nil: none), told to forget the keys a
	// migration to a LID changed; migrated holds the Signal users of the phone numbers for which a
	// MigratePNToLID call has finished.
	identities *Identities
	migrated   map[string]struct{}
	// batcher defers the writes of a decryption to one statement (batch.go); nil: never.
	batcher *batcher
	// records keeps the records known committed (cache.go); pending holds, per goroutine inside
	// a decryption transaction, its writes until the transaction ends.
	records *recordCache
	pending map[int64]map[string]pendingWrite
	// afterDecrypt marks the goroutines whose decryption returned with its writes held (hold.go):
	// their writes until it ends are not the decryption's.
	afterDecrypt map[int64]bool
}

type lease struct {
	owner int64 // goroutine ID (github.com/petermattis/goid) of the loading goroutine
	done  chan struct{}
	timer *time.Timer
	taken time.Time
}

// Install wraps device's session store (once; a device already wrapped is left as it is) and
// returns the wrapper. db is the database the store writes to, used to tell whether a load runs
// inside a transaction; nil means never.
//
// A device that was never saved (a new one about to pair) has no session store yet: whatsmeow's
// sqlstore creates it when the device is first saved (Container.PutDevice), so Install then wraps
// the device's container and installs the wrapper right after that first save.
func Install(device *store.Device, db *dbutil.Database, log zerolog.Logger) {
	if device.Sessions == nil {
		if _, ok := device.Container.(*deferred); !ok && device.Container != nil {
			device.Container = &deferred{DeviceContainer: device.Container, db: db, log: log}
		}
		return
	}
	var batched *batchBuffer
	if _, ok := device.Sessions.(*Store); !ok {
		// Decided before any store is wrapped: the batcher requires them to be whatsmeow's SQL store.
		br := newBatcher(device, db, log)
		s := &Store{SessionStore: device.Sessions, db: db, log: log, timeout: LeaseTimeout, maxActive: MaxActiveHold,
			held: make(map[string]*lease), inTxn: make(map[int64][]string), decrypting: make(map[int64]int), sending: make(map[int64]int), batcher: br,
			records: newRecordCache(RecordCacheSize), pending: make(map[int64]map[string]pendingWrite), afterDecrypt: make(map[int64]bool)}
		device.Sessions = s
		if br != nil {
			batched = &batchBuffer{EventBuffer: device.EventBuffer, batcher: br, sessions: s}
			device.EventBuffer = batched
			device.PreKeys = &preKeyStore{PreKeyStore: device.PreKeys, batcher: br}
			device.SenderKeys = &senderKeyStore{SenderKeyStore: device.SenderKeys, batcher: br, sessions: s}
			if device.PrivacyTokens == any(br.inner) && device.LIDs != nil {
				device.PrivacyTokens = &privacyTokens{PrivacyTokenStore: device.PrivacyTokens, batcher: br, lids: device.LIDs,
					answers: privacyTokenAnswersOf.get(sharedKey{br.db, br.jid}, func() *privacyTokenAnswers { return &privacyTokenAnswers{} })}
			}
		}
		if device.EventBuffer != nil {
			device.EventBuffer = &txnBuffer{EventBuffer: device.EventBuffer, sessions: s}
		}
	}
	if _, ok := device.Identities.(*Identities); !ok && device.Identities != nil && device.EventBuffer != nil {
		ids := newIdentities(device.Identities, db)
		if batched != nil {
			ids.batcher = batched.batcher
			batched.identities = ids
		}
		device.Identities = ids
		device.EventBuffer = &identityBuffer{EventBuffer: device.EventBuffer, identities: ids}
	}
	ids, hasIDs := device.Identities.(*Identities)
	if s, ok := device.Sessions.(*Store); ok && hasIDs {
		s.lock.Lock()
		s.identities = ids
		s.lock.Unlock()
	}
}

// txnBuffer ends the leases a decryption transaction kept once the transaction is over.
type txnBuffer struct {
	store.EventBuffer
	sessions *Store
}

// DoDecryptionTxn runs fn in whatsmeow's decryption transaction, then ends the leases the
// transaction's goroutine took or kept inside it.
// A decryption whose writes are held (hold.go) ends when they have been written.
func (b *txnBuffer) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	me := goid.Get()
	ctx, h, outer := b.sessions.batcher.holdIn(ctx, me)
	b.sessions.lock.Lock()
	b.sessions.decrypting[me]++
	b.sessions.lock.Unlock()
	committed, held := false, false
	defer func() {
		if !held {
			b.sessions.endTxn(me, committed)
		}
	}()
	err := b.EventBuffer.DoDecryptionTxn(ctx, fn)
	committed = err == nil
	held = committed && h.keep(func(committed bool) { b.sessions.endTxn(me, committed) }, outer)
	if held {
		b.sessions.lock.Lock()
		b.sessions.afterDecrypt[me] = true
		b.sessions.lock.Unlock()
	}
	return err
}

// endTxn ends the leases goroutine me took inside its transaction and still holds, after keeping
// the records it stored when the transaction committed. Leases taken inside a decryption that
// failed (whatsmeow stores nothing then, and for a message with an old counter reports no event
// either) end here too.
func (s *Store) endTxn(me int64, committed bool) {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.decrypting[me]--; s.decrypting[me] > 0 {
		return // an inner transaction: the outer one ends the leases
	}
	delete(s.decrypting, me)
	delete(s.afterDecrypt, me)
	outcome := writeFailed
	if committed {
		outcome = writeCommitted
	}
	s.endPending(me, outcome)
	for _, addr := range s.inTxn[me] {
		if l, ok := s.held[addr]; ok && l.owner == me {
			s.endLocked(addr, l)
		}
	}
	delete(s.inTxn, me)
}

// inTransaction reports whether a load or store under ctx is part of a transaction: ctx carries
// one of the store's database, or this goroutine runs inside DoDecryptionTxn.
func (s *Store) inTransaction(ctx context.Context) bool {
	s.lock.Lock()
	decrypting := s.decrypting[goid.Get()] > 0
	s.lock.Unlock()
	if decrypting {
		return true
	}
	if s.db == nil {
		return false
	}
	_, ok := s.db.Execable(ctx).(dbutil.Transaction)
	return ok
}

// took notes the leases of addresses taken under ctx, so that those taken inside a transaction
// end with it.
func (s *Store) took(ctx context.Context, addresses []string) {
	if !s.inTransaction(ctx) {
		return
	}
	me := goid.Get()
	s.lock.Lock()
	s.inTxn[me] = append(s.inTxn[me], addresses...)
	s.lock.Unlock()
}

// stored ends the leases of addresses after a store under ctx, unless the store is part of a
// transaction: those end with it (endTxn), or on SQLite were never taken.
func (s *Store) stored(ctx context.Context, addresses []string) {
	if !s.inTransaction(ctx) {
		s.release(addresses)
	}
}

// deferred installs the wrapper when the device is first saved.
type deferred struct {
	store.DeviceContainer
	db  *dbutil.Database
	log zerolog.Logger
	// carry is set by CarryDecryptions before the first save.
	carry bool
}

// PutDevice saves device and wraps the session store the save created.
func (d *deferred) PutDevice(ctx context.Context, device *store.Device) error {
	err := d.DeviceContainer.PutDevice(ctx, device)
	if err == nil && device.Sessions != nil {
		Install(device, d.db, d.log)
		if d.carry {
			CarryDecryptions(device)
		}
	}
	return err
}

// leased reports whether loads and stores under ctx take part in leasing.
func (s *Store) leased(ctx context.Context) bool {
	if s.db == nil || s.db.Dialect != dbutil.SQLite {
		return true
	}
	_, inTxn := s.db.Execable(ctx).(dbutil.Transaction)
	return !inTxn
}

// acquire leases every address (in a fixed order, so that two loads of overlapping sets cannot wait
// for each other), waiting for current holders. On ctx's end it gives back what it took.
func (s *Store) acquire(ctx context.Context, addresses []string) error {
	sorted := slices.Clone(addresses)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for i, addr := range sorted {
		if err := s.acquireOne(ctx, addr); err != nil {
			s.release(sorted[:i])
			return err
		}
	}
	return nil
}

func (s *Store) acquireOne(ctx context.Context, addr string) error {
	me := goid.Get()
	for {
		s.lock.Lock()
		current, busy := s.held[addr]
		if busy && current.owner == me {
			// This goroutine's earlier load was never stored: that path has ended.
			s.endLocked(addr, current)
			busy = false
		}
		if !busy {
			l := &lease{owner: me, done: make(chan struct{}), taken: time.Now()}
			l.timer = time.AfterFunc(s.timeout, func() { s.expire(addr, l) })
			s.held[addr] = l
			s.lock.Unlock()
			return nil
		}
		s.lock.Unlock()
		select {
		case <-current.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// expire ends l when it is still the lease of addr after the timeout.
func (s *Store) expire(addr string, l *lease) {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.held[addr] == l {
		if active := s.decrypting[l.owner] > 0 || s.sending[l.owner] > 0; active && time.Since(l.taken) < s.maxActive {
			// The holder is still sending or decrypting: only slow.
			l.timer.Reset(s.timeout)
			return
		}
		s.endLocked(addr, l)
		// Whoever waits for it now goes ahead: if the holder was only slow and stores later, one
		// of the two ratchet steps is lost.
		s.log.Warn().Str("signal_address", addr).Dur("after", s.timeout).Int64("holder_goroutine", l.owner).
			Msg("Signal session lease expired without a store")
	}
}

// release ends the leases of addresses.
func (s *Store) release(addresses []string) {
	s.lock.Lock()
	defer s.lock.Unlock()
	for _, addr := range addresses {
		if l, ok := s.held[addr]; ok {
			s.endLocked(addr, l)
		}
	}
}

// endLocked ends l, the lease of addr; s.lock is held.
func (s *Store) endLocked(addr string, l *lease) {
	delete(s.held, addr)
	l.timer.Stop()
	close(l.done)
}

// ReleaseSender ends the leases a failed decryption of a message from sender left behind (the
// record is stored only when decryption succeeds). Call it on whatsmeow's
// events.UndecryptableMessage with the message's Sender and SenderAlt; it does nothing on a device
// (or a nil device) without the wrapper.
func ReleaseSender(device *store.Device, senders ...types.JID) {
	s := wrapped(device)
	if s == nil {
		return
	}
	// A decryption this goroutine still holds (hold.go) ends first: its leases must not end
	// before its writes are in the database. For the same reason the leases of another
	// goroutine's decryption are left to it.
	me := goid.Get()
	s.batcher.release(context.Background(), me)
	addresses := make([]string, 0, len(senders))
	for _, jid := range senders {
		if !jid.IsEmpty() {
			addresses = append(addresses, jid.SignalAddress().String())
		}
	}
	s.lock.Lock()
	defer s.lock.Unlock()
	for _, addr := range addresses {
		if l, ok := s.held[addr]; ok && (l.owner == me || s.decrypting[l.owner] == 0) {
			s.endLocked(addr, l)
		}
	}
}

// BeginSend marks the calling goroutine as inside a send of whatsmeow's (Client.SendMessage or
// SendPeerMessage) on device: its leases outlive LeaseTimeout until EndSend, up to MaxActiveHold.
// Every BeginSend needs its EndSend on the same goroutine. A device whose session store is not
// wrapped is left alone.
func BeginSend(device *store.Device) {
	if s := wrapped(device); s != nil {
		me := goid.Get()
		s.lock.Lock()
		s.sending[me]++
		s.lock.Unlock()
	}
}

// EndSend ends the send BeginSend marked and the leases the calling goroutine holds on device's
// sessions outside a decryption transaction: those of the devices the send loaded but did not
// advance (one it could not encrypt for, or every one when the send failed before its end).
func EndSend(device *store.Device) {
	s := wrapped(device)
	if s == nil {
		return
	}
	me := goid.Get()
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.sending[me]--; s.sending[me] <= 0 {
		delete(s.sending, me)
	}
	if s.decrypting[me] > 0 {
		return
	}
	for addr, l := range s.held {
		if l.owner == me && !slices.Contains(s.inTxn[me], addr) {
			s.endLocked(addr, l)
		}
	}
}

// wrapped returns device's session store wrapper, or nil.
func wrapped(device *store.Device) *Store {
	if device == nil {
		return nil
	}
	s, _ := device.Sessions.(*Store)
	return s
}

// GetSession leases address and loads its record.
func (s *Store) GetSession(ctx context.Context, address string) ([]byte, error) {
	if !s.leased(ctx) {
		return s.load(ctx, address)
	}
	if err := s.acquire(ctx, []string{address}); err != nil {
		return nil, err
	}
	s.took(ctx, []string{address})
	data, err := s.load(ctx, address)
	if err != nil {
		s.release([]string{address})
	}
	return data, err
}

// GetManySessions leases every address and loads their records.
func (s *Store) GetManySessions(ctx context.Context, addresses []string) (map[string][]byte, error) {
	if !s.leased(ctx) {
		return s.loadMany(ctx, addresses)
	}
	if err := s.acquire(ctx, addresses); err != nil {
		return nil, err
	}
	s.took(ctx, addresses)
	data, err := s.loadMany(ctx, addresses)
	if err != nil {
		s.release(addresses)
	}
	return data, err
}
