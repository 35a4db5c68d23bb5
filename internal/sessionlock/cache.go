package sessionlock

import (
	"container/list"
	"slices"
	"strings"
)

// RecordCacheSize is how many Signal session records a Store keeps in memory at most (the least
// recently used go first). A record is a serialized libsignal SessionRecord: a few KiB, up to some
// tens of KiB with many archived states.
const RecordCacheSize = 1024

// recordCache keeps the session records the database is known to hold, so that loading the
// session of a contact whatsmeow has already used (HasSession and GetSession before every
// decryption, GetManySessions before every encryption) costs no database statement. On
// PostgreSQL it holds the group sender keys too (senderKeyStore, under senderKeyCacheKey).
//
// A record enters the cache only by a write of it that is known to be committed: a store outside
// any transaction once its statement succeeded, a store inside a decryption transaction once the
// transaction committed (or the deferred writes' statement succeeded, batch.go). Reads never fill
// it. Forgetting is always safe (the next load asks the database); keeping a record the database
// no longer holds would make whatsmeow encrypt or decrypt with an old ratchet state.
//
// Two writes of one address whose times in flight (from the call to its commit) overlap may land
// in either order, so neither is kept: every write of an address marks the address as written
// (forgetting it) until its end, and a write that overlapped another of the same address keeps
// nothing. Writes of many addresses at once by SQL of whatsmeow's own (DeleteAllSessions,
// MigratePNToLID) forget those addresses at their start and end and bump an epoch; a write keeps
// its record only if no such bulk write ran during its time in flight. Caller holds Store.lock
// for every method.
type recordCache struct {
	max     int
	entries map[string]*list.Element // of *cachedRecord
	lru     list.List                // front: most recently used
	// writing holds the addresses with a write in flight.
	writing map[string]*writeState
	// epoch counts the starts and ends of bulk writes; bulk counts those in flight.
	epoch uint64
	bulk  int
}

type cachedRecord struct {
	address string
	data    []byte
}

type writeState struct {
	n         int  // writes in flight
	contended bool // two of them overlapped: none keeps its record
}

// pendingWrite is one write in flight: data is the record written (nil: a delete), epoch the
// cache's epoch at its start.
type pendingWrite struct {
	data  []byte
	del   bool
	epoch uint64
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, entries: make(map[string]*list.Element), writing: make(map[string]*writeState)}
}

// get returns a copy of address's record; ok is false when it is not known.
func (c *recordCache) get(address string) (data []byte, ok bool) {
	if c == nil {
		return nil, false
	}
	e, ok := c.entries[address]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return slices.Clone(e.Value.(*cachedRecord).data), true
}

func (c *recordCache) forget(address string) {
	if e, ok := c.entries[address]; ok {
		c.lru.Remove(e)
		delete(c.entries, address)
	}
}

func (c *recordCache) put(address string, data []byte) {
	if e, ok := c.entries[address]; ok {
		e.Value.(*cachedRecord).data = slices.Clone(data)
		c.lru.MoveToFront(e)
		return
	}
	c.entries[address] = c.lru.PushFront(&cachedRecord{address: address, data: slices.Clone(data)})
	for c.lru.Len() > c.max {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cachedRecord).address)
	}
}

// begin notes the start of a write of address (del: a delete) and returns it. The address is
// forgotten at once unless keepOld: a store inside a decryption transaction keeps the committed
// record visible until the transaction ends (the leases keep its loaders waiting until then).
func (c *recordCache) begin(address string, data []byte, del, keepOld bool) pendingWrite {
	if c == nil {
		return pendingWrite{}
	}
	if !keepOld || del {
		c.forget(address)
	}
	w := c.writing[address]
	if w == nil {
		w = &writeState{}
		c.writing[address] = w
	}
	w.n++
	if w.n > 1 {
		w.contended = true
	}
	return pendingWrite{data: slices.Clone(data), del: del, epoch: c.epoch}
}

// writeOutcome is how a write ended.
type writeOutcome int

const (
	writeFailed    writeOutcome = iota // failed, or unknown whether it committed
	writeCommitted                     // known to be in the database
	writeNotSent                       // never sent to the database (a deferred decryption that failed)
)

// end notes the end of write p of address. The record is kept only when the write committed,
// stored a record, overlapped no other write of the address and no bulk write; a write never sent
// leaves the cache as it was.
func (c *recordCache) end(address string, p pendingWrite, outcome writeOutcome) {
	if c == nil {
		return
	}
	w := c.writing[address]
	if w == nil {
		return // not begun (cannot happen): keep nothing
	}
	keep := outcome == writeCommitted && !p.del && !w.contended && c.bulk == 0 && c.epoch == p.epoch
	if w.n--; w.n == 0 {
		delete(c.writing, address)
	}
	switch {
	case keep:
		c.put(address, p.data)
	case outcome != writeNotSent:
		c.forget(address)
	}
}

// bulkBegin and bulkEnd bracket a write of every address of the Signal users (the part of an
// address before the colon) by whatsmeow's own SQL.
func (c *recordCache) bulkBegin(users ...string) {
	if c == nil {
		return
	}
	c.bulk++
	c.epoch++
	c.forgetUsers(users)
}

func (c *recordCache) bulkEnd(users ...string) {
	if c == nil {
		return
	}
	c.bulk--
	c.epoch++
	c.forgetUsers(users)
}

// senderKeyCacheKey is the cache key of the sender key of the Signal address user in group: it
// cannot be taken for a Signal address, and begins with the user's address so that forgetting a
// Signal user forgets its sender keys too.
func senderKeyCacheKey(group, user string) string {
	return senderKeyPrefix + user + "\x00" + group
}

const senderKeyPrefix = "\x01"

func (c *recordCache) forgetUsers(users []string) {
	for key := range c.entries {
		user, _, _ := strings.Cut(strings.TrimPrefix(key, senderKeyPrefix), ":")
		if slices.Contains(users, user) {
			c.forget(key)
		}
	}
}
