package sessionlock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

// Buffered-event look-ups without the database (PostgreSQL only).
//
// Before it decrypts a message, whatsmeow looks the hash of its ciphertext up in the device's
// decrypted-event buffer (Client.bufferedDecrypt calls store.EventBuffer.GetBufferedEvent): a
// message delivered again because its receipt never reached the server is then answered with the
// plaintext stored the first time (or skipped as handled), instead of being decrypted a second
// time, which the Signal ratchet would refuse. Almost every look-up finds nothing, because almost
// every message is new, and each costs a database round trip on the path of every incoming message.
//
// knownHashes keeps a Bloom filter of the hashes stored in the device's buffer. A hash the filter
// has never seen is not in the buffer, and GetBufferedEvent answers so without the database; a hash
// it may have seen (a message delivered again, or one of the filter's false positives, about one in
// a thousand) is looked up in the database as before.
//
// "Not in the buffer" must never be wrong: the message's plaintext would be lost to a failed second
// decryption. So the filter must hold every hash the database holds for the device:
//   - Every buffered event of the device is inserted through batchBuffer.PutBufferedEvent (deferred
//     or inside whatsmeow's own transaction), which adds its hash before the insert is sent.
//   - The filter is built from the database (every hash stored for the device) when it is first
//     needed, and built again once the hashes added since exceed what it was sized for. A build
//     takes the hashes added while it read and the last recentHashes added before it, so an insert
//     sent before the build began and committed after the build's read is not missed (whatsmeow
//     decrypts one message of a connection after the other, so at most a few are ever on their way).
//   - Rows leave the buffer only through whatsmeow's pruning of rows older than 14 days
//     (DeleteOldBufferedHashes) and with the device itself; a pruned hash stays in the filter until
//     its next build, which costs only a look-up.
//
// Until a build succeeded (and for knownHashesRetry after one failed) every look-up goes to the
// database.
//
// The filter belongs to the account (the device's our_jid in one database), not to one
// store.Device: a reconnect loads the device again, with new wrappers, while a handler of the old
// client may still be decrypting and storing. Every device object of one account shares the
// filter (sharedByDevice).

// knownHashesFalsePositives is the filter's false positive rate at its capacity: the share of new
// messages still looked up in the database. At this rate the filter takes 14.4 bits per hash.
const knownHashesFalsePositives = 0.001

// knownHashesMinCapacity is the smallest capacity a filter is built with (7.2 KiB of bits).
const knownHashesMinCapacity = 4096

// recentHashes is how many of the latest added hashes a build takes besides the database's.
const recentHashes = 256

// knownHashesRetry is how long look-ups go to the database after a build failed.
const knownHashesRetry = time.Minute

// knownHashesQuery reads every hash of the device's buffer ($1: SQLStore.JID), as stored by
// whatsmeow's putBufferedEventQuery.
const knownHashesQuery = `SELECT ciphertext_hash FROM whatsmeow_event_buffer WHERE our_jid=$1`

type knownHashes struct {
	// read returns every hash stored in the device's buffer.
	read func(ctx context.Context) ([][32]byte, error)

	lock sync.Mutex
	// filter is the current filter (nil: none built yet); it was built for capacity hashes and
	// holds count (the database's at the build, and those added since).
	filter   *bloom.BloomFilter
	capacity uint
	count    uint
	// recent is a ring of the last recentHashes hashes added; next is where the next one goes.
	recent [recentHashes][32]byte
	filled int
	next   int
	// building is set while a build reads; during collects the hashes added meanwhile.
	building bool
	during   [][32]byte
	// retryAt is when a build may be tried again after one failed.
	retryAt time.Time
}

// sharedKey names an account in one database: the key of state that every device object of the
// account shares.
type sharedKey struct {
	db  *dbutil.Database
	jid string
}

// sharedByDevice keeps the per-account state shared by the device objects of one account, made
// once by create; it lasts as long as the process.
type sharedByDevice[T any] struct {
	lock sync.Mutex
	of   map[sharedKey]*T
}

// get returns key's state, made by create if there is none yet.
func (s *sharedByDevice[T]) get(key sharedKey, create func() *T) *T {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.of == nil {
		s.of = make(map[sharedKey]*T)
	}
	if v, ok := s.of[key]; ok {
		return v
	}
	v := create()
	s.of[key] = v
	return v
}

// knownHashesOf holds each account's filter.
var knownHashesOf sharedByDevice[knownHashes]

// knownHashesFor returns the filter of batcher's account (see sharedByDevice).
func knownHashesFor(b *batcher) *knownHashes {
	return knownHashesOf.get(sharedKey{b.db, b.jid}, func() *knownHashes { return newKnownHashes(b) })
}

// newKnownHashes returns an empty set of known hashes that reads the buffer of batcher's device.
func newKnownHashes(b *batcher) *knownHashes {
	return &knownHashes{read: func(ctx context.Context) ([][32]byte, error) {
		rows, err := b.db.Query(ctx, knownHashesQuery, b.jid)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var hashes [][32]byte
		for rows.Next() {
			var raw []byte
			if err = rows.Scan(&raw); err != nil {
				return nil, err
			}
			if len(raw) != 32 {
				return nil, fmt.Errorf("buffered event hash of %d bytes, want 32", len(raw))
			}
			hashes = append(hashes, [32]byte(raw))
		}
		return hashes, rows.Err()
	}}
}

// add notes that hash is about to be stored in the buffer. Call it before the insert is sent.
func (k *knownHashes) add(hash [32]byte) {
	k.lock.Lock()
	defer k.lock.Unlock()
	if k.filter != nil {
		k.filter.Add(hash[:])
		k.count++
	}
	if k.building {
		k.during = append(k.during, hash)
	}
	k.recent[k.next] = hash
	k.next = (k.next + 1) % recentHashes
	k.filled = min(k.filled+1, recentHashes)
}

// mayContain reports whether hash may be in the buffer; false means it certainly is not. It builds
// the filter first when there is none or the current one is full (see the package notes above).
func (k *knownHashes) mayContain(ctx context.Context, hash [32]byte) bool {
	k.lock.Lock()
	needed := !k.building && (k.filter == nil || k.count > k.capacity) && !time.Now().Before(k.retryAt)
	k.lock.Unlock()
	if needed {
		k.build(ctx)
	}
	k.lock.Lock()
	defer k.lock.Unlock()
	return k.filter == nil || k.filter.Test(hash[:])
}

// build reads the buffer's hashes and replaces the filter with one built from them, the hashes
// added while reading and the recent ones. A failed read keeps the current filter (nil: none).
func (k *knownHashes) build(ctx context.Context) {
	k.lock.Lock()
	if k.building {
		k.lock.Unlock()
		return
	}
	k.building = true
	k.during = nil
	k.lock.Unlock()

	start := time.Now()
	stored, err := k.read(ctx)

	k.lock.Lock()
	defer k.lock.Unlock()
	k.building = false
	during := k.during
	k.during = nil
	if err != nil {
		k.retryAt = time.Now().Add(knownHashesRetry)
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to read the decrypted-event buffer's hashes; looking each message up in the database for now")
		return
	}
	n := uint(len(stored) + len(during) + k.filled)
	capacity := max(2*n, knownHashesMinCapacity)
	filter := bloom.NewWithEstimates(capacity, knownHashesFalsePositives)
	for _, hash := range stored {
		filter.Add(hash[:])
	}
	for _, hash := range during {
		filter.Add(hash[:])
	}
	for _, hash := range k.recent[:k.filled] {
		filter.Add(hash[:])
	}
	k.filter, k.capacity, k.count = filter, capacity, n
	zerolog.Ctx(ctx).Debug().Int("stored_hashes", len(stored)).Uint("capacity", capacity).
		Dur("took", time.Since(start)).Msg("Built the filter of the decrypted-event buffer's hashes")
}
