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
// The batcher holds them pending and answers the reads they affect from memory until their
// statement succeeded (GetBufferedEvent of a pending clear reads as cleared; GetOutgoingEvent finds
// a pending sent message). They are written as more data-modifying CTEs of the device's next
// statement outside a transaction (a deferred decryption's writes, also when the event's insert
// carries them (hold.go), or the sessions of a sent message), or, when none comes, after PendingDelay in a statement of their own; Flush writes them
// at once (the login does when it disconnects or shuts down). A write whose statement failed rides
// along no more (it cannot make another statement fail again): its own statement retries it after
// pendingRetryDelay, and drops it when the database refuses it for good (an integrity constraint:
// its device was deleted meanwhile). A sent message so goes to the database in the same statement
// as its sessions, before it is sent.
//
// A pending write lost in a crash: a clear leaves the row's plaintext until whatsmeow's pruning of
// old rows, and a delivery of that message again (WhatsApp delivers a message again when the
// server did not receive its receipt) is handled again: the bridge looks a visible message up in
// its message map before it sends it to Matrix, so it is bridged once, as after a crash between
// the handler and the clear before this change. A sent message lost so (only one whose send wrote
// no sessions, PendingDelay at most) cannot be encrypted again for a retry receipt, as for a
// message older than the retry buffer keeps.

// PendingDelay is how long a pending write waits for a statement to ride along with before it is
// written on its own.
var PendingDelay = 200 * time.Millisecond

// pendingRetryDelay is how long pending writes wait after their own statement failed (the
// database unreachable, say) before the next try.
const pendingRetryDelay = 5 * time.Second

// maxPendingPerStatement bounds the pending writes one statement carries; the rest wait for the
// next.
const maxPendingPerStatement = 256

// The statements pending writes become; %[1]s is the parameter holding SQLStore.JID.
const (
	// SQLStore.ClearBufferedEventPlaintext (clearBufferedEventPlaintextQuery) for a list of hashes.
	batchClearEvents = `UPDATE whatsmeow_event_buffer SET plaintext = NULL WHERE our_jid = %[1]s AND ciphertext_hash IN (%[2]s)`
	// SQLStore.AddOutgoingEvent (addOutgoingEventQuery), timestamp in Unix milliseconds.
	batchAddOutgoing = `INSERT INTO whatsmeow_retry_buffer (our_jid, chat_jid, message_id, format, plaintext, timestamp)
		VALUES (%[1]s, %[2]s, %[3]s, %[4]s, %[5]s, %[6]s)
		ON CONFLICT (our_jid, chat_jid, message_id) DO UPDATE
			SET format=excluded.format, plaintext=excluded.plaintext, timestamp=excluded.timestamp`
)

// outgoingKey is a retry buffer row's key: the chat as the row stores it (types.JID.String) and
// the message ID.
type outgoingKey struct {
	chat string
	id   types.MessageID
}

// outgoingEvent is one pending AddOutgoingEvent; atMS is its time in Unix milliseconds, taken at
// the call as whatsmeow's SQLStore.AddOutgoingEvent takes it.
type outgoingEvent struct {
	format    string
	plaintext []byte
	atMS      int64
}

// pendingState is where a pending write is: gen tells a write from a newer one of the same row
// (only the statement that took that generation may finish it); inFlight while a statement holds
// it; failed once a statement with it failed (it then rides along no more).
type pendingState struct {
	gen      uint64
	inFlight bool
	failed   bool
}

type pendingClear struct {
	pendingState
	at time.Time // when whatsmeow cleared it
}

type pendingOutgoing struct {
	pendingState
	evt outgoingEvent
}

// pendingWrites are a device's writes not yet written.
type pendingWrites struct {
	lock     sync.Mutex
	gen      uint64
	clears   map[[32]byte]*pendingClear
	outgoing map[outgoingKey]*pendingOutgoing
	timer    *time.Timer
}

// taken is what one statement writes of the pending writes, with the generations it took.
type taken struct {
	clears    [][32]byte
	clearGens []uint64
	outgoing  []outgoingKey
	events    []outgoingEvent
	outgoGens []uint64
}

func (t taken) empty() bool { return len(t.clears) == 0 && len(t.outgoing) == 0 }

// arm starts the delayed write (flush after delay) unless one is waiting. Caller holds lock.
func (q *pendingWrites) arm(delay time.Duration, flush func()) {
	if q.timer == nil {
		q.timer = time.AfterFunc(delay, flush)
	}
}

func (q *pendingWrites) addClear(hash [32]byte, flush func()) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if q.clears == nil {
		q.clears = make(map[[32]byte]*pendingClear)
	}
	q.gen++
	q.clears[hash] = &pendingClear{pendingState: pendingState{gen: q.gen}, at: time.Now()}
	q.arm(PendingDelay, flush)
}

func (q *pendingWrites) addOutgoing(key outgoingKey, evt outgoingEvent, flush func()) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if q.outgoing == nil {
		q.outgoing = make(map[outgoingKey]*pendingOutgoing)
	}
	q.gen++
	q.outgoing[key] = &pendingOutgoing{pendingState: pendingState{gen: q.gen}, evt: evt}
	q.arm(PendingDelay, flush)
}

// cleared returns the buffered event as it reads once hash's pending clear is written, or nil. Its
// InsertTime is the time of the clear (the row's insert time is not known here).
func (q *pendingWrites) cleared(hash [32]byte) *store.BufferedEvent {
	q.lock.Lock()
	defer q.lock.Unlock()
	c, ok := q.clears[hash]
	if !ok {
		return nil
	}
	return &store.BufferedEvent{InsertTime: c.at}
}

// sent returns the pending sent message id in chat or altChat, as SQLStore.GetOutgoingEvent would.
func (q *pendingWrites) sent(chat, altChat types.JID, id types.MessageID) (outgoingEvent, bool) {
	q.lock.Lock()
	defer q.lock.Unlock()
	if o, ok := q.outgoing[outgoingKey{chat.String(), id}]; ok {
		return o.evt, true
	}
	if o, ok := q.outgoing[outgoingKey{altChat.String(), id}]; ok {
		return o.evt, true
	}
	return outgoingEvent{}, false
}

// take marks pending writes in flight and returns them (at most maxPendingPerStatement), in a fixed
// order so that two statements change shared rows in the same order; riding, it leaves out writes
// whose statement failed before. The caller runs a statement with them and calls finish.
func (q *pendingWrites) take(riding bool) taken {
	q.lock.Lock()
	defer q.lock.Unlock()
	var t taken
	eligible := func(st *pendingState) bool { return !st.inFlight && !(riding && st.failed) }
	for _, h := range slices.SortedFunc(maps.Keys(q.clears), func(a, b [32]byte) int { return strings.Compare(string(a[:]), string(b[:])) }) {
		if c := q.clears[h]; eligible(&c.pendingState) && len(t.clears) < maxPendingPerStatement {
			c.inFlight = true
			t.clears, t.clearGens = append(t.clears, h), append(t.clearGens, c.gen)
		}
	}
	keys := slices.SortedFunc(maps.Keys(q.outgoing), func(a, b outgoingKey) int {
		if c := strings.Compare(a.chat, b.chat); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, k := range keys {
		if o := q.outgoing[k]; eligible(&o.pendingState) && len(t.clears)+len(t.outgoing) < maxPendingPerStatement {
			o.inFlight = true
			t.outgoing, t.events, t.outgoGens = append(t.outgoing, k), append(t.events, o.evt), append(t.outgoGens, o.gen)
		}
	}
	return t
}

// finish ends t's flight: written (ok) or refused for good (drop), t's writes leave the queue;
// otherwise they stay, marked failed, and the retry is armed. A write made again meanwhile (a
// newer generation) stays as it is.
func (q *pendingWrites) finish(t taken, ok, drop bool, flush func()) {
	q.lock.Lock()
	defer q.lock.Unlock()
	settle := func(st *pendingState, gen uint64) (remove bool) {
		if st.gen != gen {
			return false
		}
		if ok || drop {
			return true
		}
		st.inFlight, st.failed = false, true
		return false
	}
	for i, h := range t.clears {
		if c, found := q.clears[h]; found && settle(&c.pendingState, t.clearGens[i]) {
			delete(q.clears, h)
		}
	}
	for i, k := range t.outgoing {
		if o, found := q.outgoing[k]; found && settle(&o.pendingState, t.outgoGens[i]) {
			delete(q.outgoing, k)
		}
	}
	if !ok && !drop && !t.empty() {
		q.arm(pendingRetryDelay, flush)
	}
}

// parts returns the statement parts that write t; jid is the parameter holding SQLStore.JID, arg
// adds a parameter and returns its $n.
func (t taken) parts(jid string, arg func(any) string) []string {
	var parts []string
	for i, k := range t.outgoing {
		evt := t.events[i]
		parts = append(parts, fmt.Sprintf(batchAddOutgoing, jid, arg(k.chat), arg(k.id), arg(evt.format), arg(evt.plaintext), arg(evt.atMS)))
	}
	if len(t.clears) > 0 {
		params := make([]string, len(t.clears))
		for i := range t.clears {
			params[i] = arg(t.clears[i][:])
		}
		parts = append(parts, fmt.Sprintf(batchClearEvents, jid, strings.Join(params, ", ")))
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

// refusedForGood reports whether err is the database refusing a write whatever is tried again: an
// integrity constraint violation (SQLSTATE class 23; here the device's row is gone).
func refusedForGood(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code.Class() == "23"
}

// queueClear holds hash's plaintext clear pending and arms the delayed write.
func (br *batcher) queueClear(hash [32]byte) { br.pending.addClear(hash, br.flushPending) }

// queueOutgoing holds a sent message for the retry buffer pending and arms the delayed write.
func (br *batcher) queueOutgoing(chat types.JID, id types.MessageID, format string, plaintext []byte) {
	br.pending.addOutgoing(outgoingKey{chat.String(), id}, outgoingEvent{format: format, plaintext: plaintext, atMS: time.Now().UnixMilli()}, br.flushPending)
}

// riding takes the pending writes that ride along with a statement of the device.
func (br *batcher) riding() taken { return br.pending.take(true) }

// rode ends the flight of writes that rode along with a statement that returned err. A statement
// that failed is not told apart by part: its writes are kept (failed) for their own statement.
func (br *batcher) rode(t taken, err error) {
	if !t.empty() {
		br.pending.finish(t, err == nil, false, br.flushPending)
	}
}

// writePending writes the pending writes in statements of their own until none are left or one
// fails, and returns that failure.
func (br *batcher) writePending(ctx context.Context) error {
	for {
		t := br.pending.take(false)
		if t.empty() {
			return nil
		}
		args := []any{br.jid}
		query := withCTEs(t.parts("$1", func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }))
		_, err := br.db.Exec(ctx, query, args...)
		drop := err != nil && refusedForGood(err)
		br.pending.finish(t, err == nil, drop, br.flushPending)
		switch {
		case drop:
			br.log.Warn().Err(err).Int("clears", len(t.clears)).Int("sent_messages", len(t.outgoing)).
				Msg("Dropped pending whatsmeow store writes the database refused")
		case err != nil:
			br.log.Warn().Err(err).Int("clears", len(t.clears)).Int("sent_messages", len(t.outgoing)).
				Msg("Failed to write pending whatsmeow store writes, will retry")
			return err
		}
	}
}

// flushPending is the delayed write: the timer's callback.
func (br *batcher) flushPending() {
	br.pending.lock.Lock()
	br.pending.timer = nil
	br.pending.lock.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = br.writePending(ctx) // a failure re-armed the retry (finish)
}

// Flush writes device's held decryptions (hold.go) and pending writes now (see above) and reports
// the first failure; failed pending writes stay pending and are tried again later, a failed held
// decryption is not (its message is decrypted again when delivered again). It does nothing for a device without them (SQLite,
// or never installed). Call it when the device's client disconnects or the bridge stops, before
// the database closes.
func Flush(ctx context.Context, device *store.Device) error {
	if device == nil {
		return nil
	}
	s, ok := device.Sessions.(*Store)
	if !ok || s.batcher == nil {
		return nil
	}
	br := s.batcher
	held := br.releaseAll(ctx)
	br.pending.lock.Lock()
	if br.pending.timer != nil && br.pending.timer.Stop() {
		br.pending.timer = nil
	}
	br.pending.lock.Unlock()
	if err := br.writePending(ctx); err != nil {
		return err
	}
	return held
}
