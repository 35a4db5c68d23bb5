package bridge

import (
	"cmp"
	"slices"
	"sync"
)

// inboxMemory keeps the inbox rows this process stored, per room (or portal), until they are
// handled, so that a room's worker takes them from memory instead of reading them back from the
// database. That saves the two queries per event that the hot path otherwise makes after the
// insert (the rooms with pending rows, then the room's pending rows) in both directions.
//
// The database stays the record: memory is only trusted for a room ("complete") when it holds every
// pending row of the room, which is known once a worker has read the room's rows from the database,
// handled all of them, and nothing was dropped from memory meanwhile. Until then, and after a drop,
// the room's worker reads the database as before. The gate makes this safe against inserts that
// commit while the worker reads: a store holds it shared from before its insert until its rows are
// in memory, the read holds it exclusively, so a row committed before the read is already in memory
// (and handled from the read's result) and one committed after it is added after it.
//
// A room holding more than roomLimit rows, or all rooms together more than limit (a long outage),
// drops its rows and is read from the database again; nothing is lost by that, the rows stay
// pending in the database.
type inboxMemory[K comparable, R any] struct {
	seqOf            func(R) int64
	roomLimit, limit int

	gate sync.RWMutex

	lock  sync.Mutex
	rooms map[K]*memoryRoom[R]
	total int
}

// memoryRoom is one room's rows in seq order and whether they can be trusted.
type memoryRoom[R any] struct {
	rows []R
	// reading: a database read of the room finished and its rows are being handled; rows stored
	// since are kept. complete: rows are all of the room's pending rows.
	reading, complete bool
	// epoch counts drops, so that a read that a drop overtook does not make the room complete.
	epoch uint64
	// gone holds rows handled before they reached memory (a worker found them in the database,
	// late_events.go, while their store had not added them yet): add ignores them.
	gone map[int64]struct{}
}

// Limits of the inbox memories: far above what a room holds while its homeserver and WhatsApp keep
// up, far below what a long outage piles up.
const (
	inboxMemoryRoomLimit = 512
	inboxMemoryLimit     = 8192
)

func newInboxMemory[K comparable, R any](seqOf func(R) int64) *inboxMemory[K, R] {
	return &inboxMemory[K, R]{seqOf: seqOf, roomLimit: inboxMemoryRoomLimit, limit: inboxMemoryLimit, rooms: make(map[K]*memoryRoom[R])}
}

// storing is called before inserting rows; call the function it returns after adding them (or
// after the insert failed).
func (m *inboxMemory[K, R]) storing() (done func()) {
	m.gate.RLock()
	return m.gate.RUnlock
}

// add records a row that was committed to the database, between storing and its done.
func (m *inboxMemory[K, R]) add(key K, row R) {
	m.lock.Lock()
	defer m.lock.Unlock()
	r := m.rooms[key]
	if r == nil || !(r.reading || r.complete) {
		return // the room's next drain reads the database
	}
	seq := m.seqOf(row)
	if _, handled := r.gone[seq]; handled {
		delete(r.gone, seq)
		return
	}
	i, _ := slices.BinarySearchFunc(r.rows, seq, func(have R, seq int64) int {
		return cmp.Compare(m.seqOf(have), seq)
	})
	r.rows = slices.Insert(r.rows, i, row)
	m.total++
	if len(r.rows) > m.roomLimit || m.total > m.limit {
		m.dropLocked(r)
	}
}

// pending returns the room's pending rows: from memory when it holds all of them, else from read,
// which reads them from the database. fromMemory and epoch go to finish.
func (m *inboxMemory[K, R]) pending(key K, read func() ([]R, error)) (rows []R, fromMemory bool, epoch uint64, err error) {
	m.lock.Lock()
	if r := m.rooms[key]; r != nil && r.complete {
		rows = slices.Clone(r.rows)
		m.lock.Unlock()
		return rows, true, 0, nil
	}
	m.lock.Unlock()
	m.gate.Lock()
	defer m.gate.Unlock()
	if rows, err = read(); err != nil {
		return nil, false, 0, err
	}
	m.lock.Lock()
	defer m.lock.Unlock()
	r := m.rooms[key]
	if r == nil {
		r = &memoryRoom[R]{}
		m.rooms[key] = r
	}
	m.dropLocked(r) // rows added by an earlier read that did not finish are in this read's result
	r.reading = true
	return rows, false, r.epoch, nil
}

// forget leaves the room to the database from its next drain on: call it, between storing and its
// done, when rows of the room became pending in the database by other means than a store (an event
// set pending again).
func (m *inboxMemory[K, R]) forget(key K) {
	m.lock.Lock()
	defer m.lock.Unlock()
	if r := m.rooms[key]; r != nil {
		m.dropLocked(r)
	}
}

// handled forgets rows that are settled (done or failed) in the database.
func (m *inboxMemory[K, R]) handled(key K, seqs ...int64) {
	m.lock.Lock()
	defer m.lock.Unlock()
	r := m.rooms[key]
	if r == nil {
		return
	}
	before := len(r.rows)
	r.rows = slices.DeleteFunc(r.rows, func(row R) bool { return slices.Contains(seqs, m.seqOf(row)) })
	m.total -= before - len(r.rows)
}

// handledOutOfTurn forgets a row handled ahead of its turn, which its store may not have added
// yet (late_events.go): if it is not in memory, a later add of it is ignored.
func (m *inboxMemory[K, R]) handledOutOfTurn(key K, seq int64) {
	m.lock.Lock()
	defer m.lock.Unlock()
	r := m.rooms[key]
	if r == nil || !(r.reading || r.complete) {
		return
	}
	if i := slices.IndexFunc(r.rows, func(row R) bool { return m.seqOf(row) == seq }); i >= 0 {
		r.rows = slices.Delete(r.rows, i, i+1)
		m.total--
		return
	}
	if r.gone == nil {
		r.gone = make(map[int64]struct{})
	}
	r.gone[seq] = struct{}{}
}

// finish ends a drain of the room that took its rows from pending. A drain from the database that
// handled every row makes the memory the room's record; one that stopped early leaves the room to
// the database.
func (m *inboxMemory[K, R]) finish(key K, fromMemory bool, epoch uint64, retry bool) {
	if fromMemory {
		return // unhandled rows stay in memory, which still holds all of the room's
	}
	m.lock.Lock()
	defer m.lock.Unlock()
	r := m.rooms[key]
	if r == nil {
		return
	}
	if retry || !r.reading || r.epoch != epoch {
		m.dropLocked(r)
		return
	}
	r.reading, r.complete = false, true
}

// dropLocked forgets the room's rows: its next drain reads the database. Caller holds lock.
func (m *inboxMemory[K, R]) dropLocked(r *memoryRoom[R]) {
	m.total -= len(r.rows)
	r.rows = nil
	r.gone = nil
	r.reading, r.complete = false, false
	r.epoch++
}

// inboxKeyBuffer is how many stored-to rooms (or portals) wait for their inbox's dispatcher before
// a store falls back to waking it.
const inboxKeyBuffer = 1024

// handOver tells an inbox's dispatcher that key has new rows; when its channel is full, it wakes
// the dispatcher to read which rooms have pending rows instead. It never blocks.
func handOver[K any](keys chan K, key K, wake func()) {
	select {
	case keys <- key:
	default:
		wake()
	}
}
