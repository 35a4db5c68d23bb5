package sessionlock

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Writes that ride along (PostgreSQL only).
//
// Two of whatsmeow's store writes need not be a statement of their own, because the next
// statement of the same device follows within milliseconds and nothing reads them from the
// database first:
//
//   - Plaintext clears. After the handlers of a decrypted message succeeded, whatsmeow clears its
//     buffered plaintext (store.EventBuffer.ClearBufferedEventPlaintext, from
//     Client.decryptMessages) before it sends the message's receipt; a message delivered again
//     whose buffer row has no plaintext is skipped as already handled (Client.bufferedDecrypt,
//     ErrEventAlreadyProcessed). The server delivers a message again only when its receipt was
//     not sent, and the bridge bridges a message delivered twice once (the WhatsApp inbox's
//     duplicate check), so the clear may reach the database after the receipt.
//   - Sent messages for the retry buffer. Before it encrypts a message, whatsmeow stores its
//     plaintext so that it can encrypt it again when a recipient's device asks for a retry
//     (store.EventBuffer.AddOutgoingEvent, from Client.addRecentMessage, under the client's send
//     lock); the encryption then stores the advanced Signal sessions
//     (store.SessionStore.PutManySessions) before the message goes out.
//
// The batcher holds them pending and answers the reads they affect from memory (GetBufferedEvent
// of a pending clear reads as cleared; GetOutgoingEvent finds a pending sent message). They are
// written as more data-modifying CTEs of the device's next statement outside a transaction (a
// deferred decryption's writes, or the sessions of a sent message), or, when none comes, after
// PendingDelay in a statement of their own. A sent message so goes to the database in the same
// statement as its sessions, before it is sent. A pending write lost in a crash: a clear leaves
// the row's plaintext until whatsmeow's pruning of old rows (a delivery of that message again is
// handled again and bridged once, as after a crash between the handler and the clear); a sent
// message (only one whose send wrote no sessions, PendingDelay at most) cannot be encrypted again
// for a retry receipt, as for a message older than the retry buffer keeps.

// PendingDelay is how long a pending write waits for a statement to ride along with before it is
// written on its own.
var PendingDelay = 200 * time.Millisecond

// pendingRetryDelay is how long pending writes wait after their own statement failed (the
// database unreachable, say) before the next try.
const pendingRetryDelay = 5 * time.Second

// maxPendingPerStatement bounds the pending writes one statement carries; the rest wait for the
// next.
const maxPendingPerStatement = 256

// The statements pending writes become; $1 is SQLStore.JID.
const (
	// SQLStore.ClearBufferedEventPlaintext (clearBufferedEventPlaintextQuery) for a list of hashes.
	batchClearEvents = `UPDATE whatsmeow_event_buffer SET plaintext = NULL WHERE our_jid = $1 AND ciphertext_hash IN (%s)`
	// SQLStore.AddOutgoingEvent (addOutgoingEventQuery), timestamp in Unix milliseconds.
	batchAddOutgoing = `INSERT INTO whatsmeow_retry_buffer (our_jid, chat_jid, message_id, format, plaintext, timestamp)
		VALUES ($1, %s, %s, %s, %s, %s)
		ON CONFLICT (our_jid, chat_jid, message_id) DO UPDATE
			SET format=excluded.format, plaintext=excluded.plaintext, timestamp=excluded.timestamp`
)

// outgoingKey is a retry buffer row's key.
type outgoingKey struct {
	chat types.JID
	id   types.MessageID
}

// outgoingEvent is one pending AddOutgoingEvent; atMS is its time in Unix milliseconds, taken at
// the call as whatsmeow's SQLStore.AddOutgoingEvent takes it.
type outgoingEvent struct {
	format    string
	plaintext []byte
	atMS      int64
}

// pendingWrites are a device's writes not yet written.
type pendingWrites struct {
	lock     sync.Mutex
	clears   map[[32]byte]time.Time // ciphertext hash -> when it was cleared
	outgoing map[outgoingKey]outgoingEvent
	timer    *time.Timer
}

// taken is what one statement writes of the pending writes.
type taken struct {
	clears   [][32]byte
	outgoing []outgoingKey
	events   map[outgoingKey]outgoingEvent
}

func (t taken) empty() bool { return len(t.clears) == 0 && len(t.outgoing) == 0 }

// arm starts the delayed write (flush, after PendingDelay) unless one is waiting. Caller holds
// lock.
func (q *pendingWrites) arm(flush func()) {
	if q.timer == nil {
		q.timer = time.AfterFunc(PendingDelay, flush)
	}
}

func (q *pendingWrites) addClear(hash [32]byte, flush func()) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if q.clears == nil {
		q.clears = make(map[[32]byte]time.Time)
	}
	q.clears[hash] = time.Now()
	q.arm(flush)
}

func (q *pendingWrites) addOutgoing(key outgoingKey, evt outgoingEvent, flush func()) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if q.outgoing == nil {
		q.outgoing = make(map[outgoingKey]outgoingEvent)
	}
	q.outgoing[key] = evt
	q.arm(flush)
}

// cleared returns the buffered event as it reads once hash's pending clear is written, or nil.
func (q *pendingWrites) cleared(hash [32]byte) *store.BufferedEvent {
	q.lock.Lock()
	defer q.lock.Unlock()
	at, ok := q.clears[hash]
	if !ok {
		return nil
	}
	return &store.BufferedEvent{InsertTime: at}
}

// sent returns the pending sent message id in chat or altChat, as SQLStore.GetOutgoingEvent would.
func (q *pendingWrites) sent(chat, altChat types.JID, id types.MessageID) (evt outgoingEvent, ok bool) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if evt, ok = q.outgoing[outgoingKey{chat, id}]; !ok {
		evt, ok = q.outgoing[outgoingKey{altChat, id}]
	}
	return evt, ok
}

// take removes and returns pending writes (at most maxPendingPerStatement), in a fixed order so that
// two statements change shared rows in the same order.
func (q *pendingWrites) take() taken {
	q.lock.Lock()
	defer q.lock.Unlock()
	var t taken
	t.clears = slices.SortedFunc(maps.Keys(q.clears), func(a, b [32]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	t.clears = t.clears[:min(len(t.clears), maxPendingPerStatement)]
	for _, h := range t.clears {
		delete(q.clears, h)
	}
	t.outgoing = slices.SortedFunc(maps.Keys(q.outgoing), func(a, b outgoingKey) int {
		if c := strings.Compare(a.chat.String(), b.chat.String()); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	t.outgoing = t.outgoing[:min(len(t.outgoing), maxPendingPerStatement-len(t.clears))]
	t.events = make(map[outgoingKey]outgoingEvent, len(t.outgoing))
	for _, k := range t.outgoing {
		t.events[k] = q.outgoing[k]
		delete(q.outgoing, k)
	}
	return t
}

// putBack returns the writes of a failed statement; a newer pending write of the same row wins.
func (q *pendingWrites) putBack(t taken) {
	q.lock.Lock()
	defer q.lock.Unlock()
	now := time.Now()
	for _, h := range t.clears {
		if _, ok := q.clears[h]; !ok {
			if q.clears == nil {
				q.clears = make(map[[32]byte]time.Time)
			}
			q.clears[h] = now
		}
	}
	for _, k := range t.outgoing {
		if _, ok := q.outgoing[k]; !ok {
			if q.outgoing == nil {
				q.outgoing = make(map[outgoingKey]outgoingEvent)
			}
			q.outgoing[k] = t.events[k]
		}
	}
}

// parts returns the statement parts that write t; arg adds a parameter and returns its $n.
func (t taken) parts(arg func(any) string) []string {
	var parts []string
	for _, k := range t.outgoing {
		evt := t.events[k]
		parts = append(parts, fmt.Sprintf(batchAddOutgoing, arg(k.chat.String()), arg(k.id), arg(evt.format), arg(evt.plaintext), arg(evt.atMS)))
	}
	if len(t.clears) > 0 {
		params := make([]string, len(t.clears))
		for i := range t.clears {
			params[i] = arg(t.clears[i][:])
		}
		parts = append(parts, fmt.Sprintf(batchClearEvents, strings.Join(params, ", ")))
	}
	return parts
}

// withCTEs joins parts into one statement: the last part the main statement, the others
// data-modifying CTEs before it (PostgreSQL runs each exactly once, the whole atomically).
func withCTEs(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	var q strings.Builder
	q.WriteString("WITH ")
	for i, part := range parts[:len(parts)-1] {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "w%d AS (%s)", i, part)
	}
	q.WriteString(" ")
	q.WriteString(parts[len(parts)-1])
	return q.String()
}

// queueClear holds hash's plaintext clear pending and arms the delayed write.
func (br *batcher) queueClear(hash [32]byte) { br.pending.addClear(hash, br.flushPending) }

// queueOutgoing holds a sent message for the retry buffer pending and arms the delayed write.
func (br *batcher) queueOutgoing(chat types.JID, id types.MessageID, format string, plaintext []byte) {
	br.pending.addOutgoing(outgoingKey{chat, id}, outgoingEvent{format: format, plaintext: plaintext, atMS: time.Now().UnixMilli()}, br.flushPending)
}

// flushPending writes the pending writes in statements of their own until none are left. A
// write the database refuses for good (an integrity constraint: the device was deleted meanwhile,
// its rows with it) is dropped; after any other failure the writes stay pending for the next
// statement of the device or the next try, pendingRetryDelay later.
func (br *batcher) flushPending() {
	failed := false
	defer func() {
		br.pending.lock.Lock()
		defer br.pending.lock.Unlock()
		br.pending.timer = nil
		if len(br.pending.clears) > 0 || len(br.pending.outgoing) > 0 {
			delay := PendingDelay
			if failed {
				delay = pendingRetryDelay
			}
			br.pending.timer = time.AfterFunc(delay, br.flushPending)
		}
	}()
	for {
		t := br.pending.take()
		if t.empty() {
			return
		}
		args := []any{br.jid}
		query := withCTEs(t.parts(func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := br.db.Exec(ctx, query, args...)
		cancel()
		var pqErr *pq.Error
		switch {
		case err == nil:
		case errors.As(err, &pqErr) && pqErr.Code.Class() == "23":
			br.log.Warn().Err(err).Int("clears", len(t.clears)).Int("sent_messages", len(t.outgoing)).
				Msg("Dropped pending whatsmeow store writes the database refused")
		default:
			br.pending.putBack(t)
			failed = true
			br.log.Warn().Err(err).Int("clears", len(t.clears)).Int("sent_messages", len(t.outgoing)).
				Msg("Failed to write pending whatsmeow store writes, will retry")
			return
		}
	}
}
