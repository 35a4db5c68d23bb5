package sessionlock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/petermattis/goid"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// batchBuffer is the device's whatsmeow event buffer with decryption writes deferred to one
// statement (see batch.go). It is the innermost event buffer wrapper: txnBuffer and
// identityBuffer wrap it, so the leases of a decryption end, and its identity keys are remembered,
// only after the combined statement has run.
type batchBuffer struct {
	store.EventBuffer // whatsmeow's *sqlstore.SQLStore
	batcher           *batcher
	// sessions and identities (nil: none) are the device's session and identity wrappers, whose
	// pending changes of a decryption that wrote nothing are dropped.
	sessions   *Store
	identities *Identities
}

// DoDecryptionTxn runs fn with its writes deferred and writes them with one statement, or holds
// them for the insert of the decrypted event to carry (hold.go). When fn
// fails, nothing is written and fn's error is returned. When fn made a write the batch cannot
// hold, fn runs again from scratch inside whatsmeow's real transaction. When ctx already carries
// a transaction of the database, fn runs in whatsmeow's DoDecryptionTxn (that is, in the caller's
// transaction) as before; when it carries this device's batch, fn joins it.
func (b *batchBuffer) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	if b.batcher.of(ctx) != nil {
		return fn(ctx)
	}
	if _, inTxn := b.batcher.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return b.EventBuffer.DoDecryptionTxn(ctx, fn)
	}
	bt := newBatch(b.batcher)
	err := fn(context.WithValue(ctx, batchKey{}, bt))
	if bt.isRefused() {
		b.discard(goid.Get())
		zerolog.Ctx(ctx).Debug().Str("write", bt.refused).Msg("Decrypting again in a transaction: the deferred writes cannot hold a write")
		return b.EventBuffer.DoDecryptionTxn(ctx, fn)
	}
	if err != nil {
		b.discard(goid.Get())
		return err
	}
	if h := holdOf(ctx, b.batcher); h != nil && !bt.empty() && !b.batcher.fromOwnDevice(bt) {
		h.bt = bt // written later, by the event's insert or on its own (hold.go)
		return nil
	}
	if err = b.batcher.write(ctx, bt); err != nil {
		return fmt.Errorf("failed to write the decryption's deferred writes: %w", err)
	}
	return nil
}

// discard drops what goroutine me's deferred decryption changed in memory: it wrote nothing.
func (b *batchBuffer) discard(me int64) {
	b.sessions.discard(me)
	b.identities.discard(me)
}

// GetBufferedEvent returns the event the ctx's deferred decryption buffered, else the stored one;
// an event whose plaintext clear is pending (pending.go) reads as cleared. A hash the device's
// filter of known hashes has never seen is not stored: nil without a look-up (knownhashes.go).
func (b *batchBuffer) GetBufferedEvent(ctx context.Context, hash [32]byte) (*store.BufferedEvent, error) {
	b.batcher.release(ctx, goid.Get()) // held writes of an earlier part of the stanza go first
	if evt := b.batcher.pending.cleared(hash); evt != nil {
		return evt, nil
	}
	if bt := b.batcher.of(ctx); bt != nil {
		if evt := bt.event(hash); evt != nil {
			return evt, nil
		}
	}
	if !b.batcher.known.mayContain(ctx, hash) {
		return nil, nil
	}
	return b.EventBuffer.GetBufferedEvent(ctx, hash)
}

// PutBufferedEvent buffers the plaintext; inside a deferred decryption the insert is deferred.
// Either way the hash joins the known hashes first.
func (b *batchBuffer) PutBufferedEvent(ctx context.Context, hash [32]byte, plaintext []byte, serverTimestamp time.Time) error {
	b.batcher.known.add(hash)
	if bt := b.batcher.of(ctx); bt != nil {
		return bt.putEvent(hash, plaintext, serverTimestamp)
	}
	return b.EventBuffer.PutBufferedEvent(ctx, hash, plaintext, serverTimestamp)
}

// ClearBufferedEventPlaintext holds the clear of a buffered plaintext pending (pending.go), or inside
// a caller's transaction clears it there; refused inside a deferred decryption.
func (b *batchBuffer) ClearBufferedEventPlaintext(ctx context.Context, hash [32]byte) error {
	if bt := b.batcher.of(ctx); bt != nil {
		return bt.refuse("ClearBufferedEventPlaintext")
	}
	if _, inTxn := b.batcher.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return b.EventBuffer.ClearBufferedEventPlaintext(ctx, hash)
	}
	// The handlers did not carry the message's held writes: they are written before the clear is
	// queued (and the receipt sent).
	b.batcher.release(ctx, goid.Get())
	b.batcher.queueClear(hash)
	return nil
}

// DeleteOldBufferedHashes prunes the buffer; refused inside a deferred decryption.
func (b *batchBuffer) DeleteOldBufferedHashes(ctx context.Context) error {
	if bt := b.batcher.of(ctx); bt != nil {
		return bt.refuse("DeleteOldBufferedHashes")
	}
	return b.EventBuffer.DeleteOldBufferedHashes(ctx)
}

// AddOutgoingEvent holds a sent message for the retry buffer pending (pending.go), or inside a
// caller's transaction writes it there; refused inside a deferred decryption.
func (b *batchBuffer) AddOutgoingEvent(ctx context.Context, chat types.JID, id types.MessageID, format string, plaintext []byte) error {
	if bt := b.batcher.of(ctx); bt != nil {
		return bt.refuse("AddOutgoingEvent")
	}
	if _, inTxn := b.batcher.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return b.EventBuffer.AddOutgoingEvent(ctx, chat, id, format, plaintext)
	}
	b.batcher.queueOutgoing(chat, id, format, plaintext)
	return nil
}

// GetOutgoingEvent returns a sent message from the retry buffer, a pending one first.
func (b *batchBuffer) GetOutgoingEvent(ctx context.Context, chat, altChat types.JID, id types.MessageID) (string, []byte, error) {
	if evt, ok := b.batcher.pending.sent(chat, altChat, id); ok {
		return evt.format, evt.plaintext, nil
	}
	return b.EventBuffer.GetOutgoingEvent(ctx, chat, altChat, id)
}

// DeleteOldOutgoingEvents prunes the sent messages; refused inside a deferred decryption.
func (b *batchBuffer) DeleteOldOutgoingEvents(ctx context.Context) error {
	if bt := b.batcher.of(ctx); bt != nil {
		return bt.refuse("DeleteOldOutgoingEvents")
	}
	return b.EventBuffer.DeleteOldOutgoingEvents(ctx)
}

// preKeyStore defers the removal of a one-time prekey (libsignal's session cipher removes it after
// decrypting a prekey message) inside a deferred decryption.
type preKeyStore struct {
	store.PreKeyStore
	batcher *batcher
	// lock makes the prekeys of one device one at a time, as whatsmeow's SQLStore.preKeyLock does
	// for its own (every call reaches the store through this wrapper).
	lock sync.Mutex
}

// GetPreKey returns nil for a prekey the ctx's deferred decryption removed, as the database
// would after the removal.
func (p *preKeyStore) GetPreKey(ctx context.Context, id uint32) (*keys.PreKey, error) {
	if bt := p.batcher.of(ctx); bt != nil && bt.preKeyRemoved(id) {
		return nil, nil
	}
	return p.PreKeyStore.GetPreKey(ctx, id)
}

// RemovePreKey removes the prekey; inside a deferred decryption the removal is deferred.
func (p *preKeyStore) RemovePreKey(ctx context.Context, id uint32) error {
	if bt := p.batcher.of(ctx); bt != nil {
		bt.removePreKey(id)
		return nil
	}
	return p.PreKeyStore.RemovePreKey(ctx, id)
}

// GetOrGenPreKeys returns count prekeys not uploaded yet, making the missing ones in one
// statement (prekeys.go); refused inside a deferred decryption.
func (p *preKeyStore) GetOrGenPreKeys(ctx context.Context, count uint32) ([]*keys.PreKey, error) {
	if bt := p.batcher.of(ctx); bt != nil {
		return nil, bt.refuse("GetOrGenPreKeys")
	}
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.getOrGenPreKeys(ctx, count)
}

// GenOnePreKey inserts a prekey; refused inside a deferred decryption.
func (p *preKeyStore) GenOnePreKey(ctx context.Context) (*keys.PreKey, error) {
	if bt := p.batcher.of(ctx); bt != nil {
		return nil, bt.refuse("GenOnePreKey")
	}
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.PreKeyStore.GenOnePreKey(ctx)
}

// MarkPreKeysAsUploaded updates prekeys; refused inside a deferred decryption.
func (p *preKeyStore) MarkPreKeysAsUploaded(ctx context.Context, upToID uint32) error {
	if bt := p.batcher.of(ctx); bt != nil {
		return bt.refuse("MarkPreKeysAsUploaded")
	}
	return p.PreKeyStore.MarkPreKeysAsUploaded(ctx, upToID)
}

// senderKeyStore defers the group sender key stores (libsignal's group cipher stores the advanced
// chain after every group message) inside a deferred decryption, and keeps the sender keys known
// committed in the session Store's record cache (cache.go), under senderKeyCacheKey, with the
// same rules as session records.
type senderKeyStore struct {
	store.SenderKeyStore
	batcher  *batcher
	sessions *Store
}

// GetSenderKey returns the sender key the ctx's deferred decryption or decryption transaction
// stored, else the one known committed, else the database's.
func (s *senderKeyStore) GetSenderKey(ctx context.Context, group, user string) ([]byte, error) {
	if bt := s.batcher.of(ctx); bt != nil {
		if data, ok := bt.senderKey(group, user); ok {
			return data, nil
		}
	}
	if data, ok := s.sessions.cached(ctx, senderKeyCacheKey(group, user)); ok && data != nil {
		return data, nil
	}
	return s.SenderKeyStore.GetSenderKey(ctx, group, user)
}

// PutSenderKey stores the sender key; inside a deferred decryption the store is deferred.
func (s *senderKeyStore) PutSenderKey(ctx context.Context, group, user string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return s.sessions.write(ctx, map[string][]byte{senderKeyCacheKey(group, user): data}, func() error {
		if bt := s.batcher.of(ctx); bt != nil {
			bt.putSenderKey(group, user, data)
			return nil
		}
		return s.SenderKeyStore.PutSenderKey(ctx, group, user, data)
	})
}
