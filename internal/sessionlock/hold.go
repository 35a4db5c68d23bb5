package sessionlock

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/petermattis/goid"
	"go.mau.fi/whatsmeow/store"
)

// Decryption writes carried by the event's own insert (PostgreSQL only, once CarryDecryptions was
// called for the device).
//
// whatsmeow dispatches a decrypted message to the event handlers right after DoDecryptionTxn
// returned, on the same goroutine, and with Client.SynchronousAck sends the message's receipt only
// after the handlers returned and the buffered plaintext was cleared
// (Client.decryptMessages). The bridge's handler stores the event in its WhatsApp inbox with one
// INSERT. The decryption's writes (batch.go) and that insert must both be in the database before
// the receipt; neither needs to be there before the other. So the decryption's statement is held
// when DoDecryptionTxn returns, and the handler's insert carries it as data-modifying CTEs of its
// own statement (Take, Held): one statement and one commit per message instead of two.
//
// When the handler does not carry it, the held statement is written on its own by whichever comes
// first:
//   - the event handler returns (WriteHeld: whatsapp.Login calls it after every event of a
//     decrypted message, before whatsmeow clears the plaintext and sends the receipt) or whatsmeow
//     clears the plaintext (ClearBufferedEventPlaintext);
//   - the same goroutine looks up or decrypts the next part of the stanza (GetBufferedEvent,
//     DoDecryptionTxn; whatsmeow handles each stanza on a goroutine of its own);
//   - an undecryptable part ends the sender's leases (ReleaseSender);
//   - PendingDelay passed (a handler still running, or no handler runs);
//   - Flush (the client disconnects, the bridge stops).
//
// Until then the decryption is not over: its leases, and its pending record and identity key
// changes, end when the held statement has run (Held.Done), with that statement's outcome, as they
// would have ended inside DoDecryptionTxn; the goroutine's own store writes in the meantime are
// not the decryption's (Store.write). A carrying statement that failed wrote neither the event
// nor the decryption: the handler fails, no receipt is sent, the records the decryption changed are
// forgotten, and a delivery of the message again is decrypted from the ratchet state in the
// database, as if the first delivery had never come. A held statement written on its own that
// failed is reported by the goroutine's next Take or WriteHeld, which fail the handler the same
// way.
//
// Where whatsmeow answers a message before any handler runs, its held writes can come after the
// answer: a plaintext that is no valid protobuf, has an unknown version or cannot be unpadded
// (whatsmeow sends a nack, or a retry receipt, and bridges nothing). A crash or a failed write then
// loses the ratchet step of a message that was never bridged, and the contact's next message
// decrypts from the stored state as libsignal allows (skipped message keys, a new ratchet). The
// decryptions of messages from the account's own devices are not held at all (fromOwnDevice).

// hold gathers, during one outermost DoDecryptionTxn, what ends with the decryption: the batch
// batchBuffer held instead of writing it, and the end of each wrapper around it.
type hold struct {
	owner *batcher
	me    int64 // the decrypting goroutine
	bt    *batch
	ends  []func(committed bool)
	timer *time.Timer
	// writing is set once a statement took it; done is closed after its ends ran.
	writing bool
	done    chan struct{}
}

type holdKey struct{}

// holds are a device's held decryptions, one per goroutine at most.
type holds struct {
	lock sync.Mutex
	on   bool // CarryDecryptions was called
	of   map[int64]*hold
	// failed holds, per goroutine, the failure of a held decryption written on its own, until
	// that goroutine's Take or WriteHeld reports it (or failureKept passed: its stanza is over).
	failed map[int64]failedHold
}

type failedHold struct {
	err error
	at  time.Time
}

// failureKept is how long a held decryption's failure waits for its goroutine to ask.
const failureKept = time.Minute

// CarryDecryptions makes the decryptions of device hold their writes for the event handler's
// insert to carry (see above, and Take). It does nothing for a device without deferred decryption
// writes (SQLite, or never installed); for a device not saved yet it takes effect when Install
// wraps it at its first save.
func CarryDecryptions(device *store.Device) {
	if d, ok := device.Container.(*deferred); ok && device.Sessions == nil {
		d.carry = true
		return
	}
	if br := batcherOf(device); br != nil {
		br.holds.lock.Lock()
		br.holds.on = true
		br.holds.lock.Unlock()
	}
}

func batcherOf(device *store.Device) *batcher {
	if device == nil {
		return nil
	}
	if s, ok := device.Sessions.(*Store); ok {
		return s.batcher
	}
	return nil
}

// holdIn returns ctx carrying the hold of the decryption goroutine me is in, and outer=true when
// this call begins that decryption (the outermost wrapper), after writing what the goroutine's
// previous decryption still holds. The hold is nil when the device's decryptions hold nothing.
func (br *batcher) holdIn(ctx context.Context, me int64) (_ context.Context, h *hold, outer bool) {
	if br == nil {
		return ctx, nil, false
	}
	if h, _ = ctx.Value(holdKey{}).(*hold); h != nil && h.owner == br {
		return ctx, h, false
	}
	br.release(ctx, me)
	br.holds.lock.Lock()
	on := br.holds.on
	br.holds.lock.Unlock()
	if !on {
		return ctx, nil, true
	}
	h = &hold{owner: br, me: me, done: make(chan struct{})}
	return context.WithValue(ctx, holdKey{}, h), h, true
}

// fromOwnDevice reports whether bt decrypted a message of one of the account's own devices (its
// session or sender key belongs to the account's phone number or LID). Such a message is not held:
// whatsmeow answers a message from the phone with a receipt of its own before the handlers run
// (Client.handleProtocolMessage), and the events its handling dispatches (placeholder resends,
// app state) cannot fail its delivery.
func (br *batcher) fromOwnDevice(bt *batch) bool {
	own := make([]string, 0, 2)
	if id := br.device.ID; id != nil {
		own = append(own, id.SignalAddressUser())
	}
	if lid := br.device.LID; !lid.IsEmpty() {
		own = append(own, lid.SignalAddressUser())
	}
	ownAddress := func(address string) bool {
		user, _, _ := strings.Cut(address, ":")
		return slices.Contains(own, user)
	}
	bt.lock.Lock()
	defer bt.lock.Unlock()
	for address := range bt.sessions {
		if ownAddress(address) {
			return true
		}
	}
	for id := range bt.senderKeys {
		if ownAddress(id.user) {
			return true
		}
	}
	return false
}

// holdOf returns the hold of ctx's decryption that may still take a batch of br.
func holdOf(ctx context.Context, br *batcher) *hold {
	if h, _ := ctx.Value(holdKey{}).(*hold); h != nil && h.owner == br && h.bt == nil {
		return h
	}
	return nil
}

// keep defers end to when h's statement has run, if h holds a batch, and reports whether it did.
// The outermost wrapper (outer) then hands h to the batcher, which writes it unless it is taken
// first.
func (h *hold) keep(end func(committed bool), outer bool) bool {
	if h == nil || h.bt == nil {
		return false
	}
	h.ends = append(h.ends, end)
	if outer {
		br := h.owner
		br.holds.lock.Lock()
		if br.holds.of == nil {
			br.holds.of = make(map[int64]*hold)
		}
		br.holds.of[h.me] = h
		h.timer = time.AfterFunc(PendingDelay, func() { br.releaseHold(h) })
		br.holds.lock.Unlock()
	}
	return true
}

// take returns goroutine me's held decryption, marked as being written, or nil when it has none.
// One that another statement is writing is waited for first.
func (br *batcher) take(me int64) *hold {
	br.holds.lock.Lock()
	h := br.holds.of[me]
	if h != nil && h.writing {
		br.holds.lock.Unlock()
		<-h.done
		return nil
	}
	if h != nil {
		h.writing = true
		h.timer.Stop()
	}
	br.holds.lock.Unlock()
	return h
}

// end ends h's decryption with the outcome of its statement and forgets h.
func (h *hold) end(err error) {
	for _, end := range h.ends {
		end(err == nil)
	}
	br := h.owner
	br.holds.lock.Lock()
	if br.holds.of[h.me] == h {
		delete(br.holds.of, h.me)
	}
	br.holds.lock.Unlock()
	close(h.done)
}

// write runs h's statement on its own and ends h. A failure is kept for the goroutine's Take or
// WriteHeld to report.
func (h *hold) write(ctx context.Context) error {
	query, args, carried := h.owner.statement(h.bt)
	var err error
	if query != "" {
		_, err = h.owner.db.Exec(ctx, query, args...)
	}
	h.owner.rode(carried, err)
	if err != nil {
		now := time.Now()
		h.owner.holds.lock.Lock()
		if h.owner.holds.failed == nil {
			h.owner.holds.failed = make(map[int64]failedHold)
		}
		for me, f := range h.owner.holds.failed {
			if now.Sub(f.at) > failureKept {
				delete(h.owner.holds.failed, me)
			}
		}
		h.owner.holds.failed[h.me] = failedHold{err, now}
		h.owner.holds.lock.Unlock()
		h.owner.log.Warn().Err(err).Msg("Failed to write a held decryption's writes; the message is decrypted again when delivered again")
	}
	h.end(err)
	return err
}

// failure returns and forgets the failure of goroutine me's last held decryption written on its
// own, or nil.
func (br *batcher) failure(me int64) error {
	br.holds.lock.Lock()
	defer br.holds.lock.Unlock()
	f := br.holds.failed[me]
	delete(br.holds.failed, me)
	return f.err
}

// release writes what goroutine me's previous decryption still holds, if anything.
func (br *batcher) release(ctx context.Context, me int64) {
	if br == nil {
		return
	}
	if h := br.take(me); h != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holdWriteTimeout)
		_ = h.write(ctx)
		cancel()
	}
}

// holdWriteTimeout bounds the write of a held decryption on its own.
const holdWriteTimeout = 30 * time.Second

// WriteHeld writes now what the calling goroutine's last decryption on device still holds, and
// returns the failure of that write, or of an earlier write of it on its own (after PendingDelay)
// that no Take reported yet. An event handler calls it before it returns, so that a decryption no
// insert carried is in the database before whatsmeow sends the message's receipt, and a failure
// fails the handler (whatsmeow then sends none). nil for a device without held decryptions.
func WriteHeld(ctx context.Context, device *store.Device) error {
	br := batcherOf(device)
	if br == nil {
		return nil
	}
	me := goid.Get()
	if h := br.take(me); h != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holdWriteTimeout)
		_ = h.write(ctx)
		cancel()
	}
	if err := br.failure(me); err != nil {
		return fmt.Errorf("failed to write the decryption's store writes: %w", err)
	}
	return nil
}

// releaseHold writes h unless a statement took it already (PendingDelay passed).
func (br *batcher) releaseHold(h *hold) {
	br.holds.lock.Lock()
	if h.writing || br.holds.of[h.me] != h {
		br.holds.lock.Unlock()
		return
	}
	h.writing = true
	br.holds.lock.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), holdWriteTimeout)
	defer cancel()
	_ = h.write(ctx)
}

// releaseAll writes every held decryption of the device (Flush) and returns the first failure.
func (br *batcher) releaseAll(ctx context.Context) (first error) {
	br.holds.lock.Lock()
	var all []*hold
	for _, h := range br.holds.of {
		if !h.writing {
			h.writing = true
			h.timer.Stop()
			all = append(all, h)
		}
	}
	br.holds.lock.Unlock()
	for _, h := range all {
		if err := h.write(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Held is a held decryption taken by a statement that carries it (Take).
type Held struct {
	h       *hold
	carried taken
}

// Take returns the writes that the calling goroutine's last decryption on device holds, for a
// statement the caller runs at once to carry (CTEs) and whose outcome it then reports (Done); nil
// when there are none. The statement must run on the database of the device's store, outside any
// transaction. The error is the failure of the decryption's writes written on their own
// meanwhile (PendingDelay passed, or Flush): the caller must then fail, so that the message is
// delivered again.
func Take(device *store.Device) (*Held, error) {
	br := batcherOf(device)
	if br == nil {
		return nil, nil
	}
	me := goid.Get()
	if h := br.take(me); h != nil {
		return &Held{h: h}, nil
	}
	if err := br.failure(me); err != nil {
		return nil, fmt.Errorf("failed to write the decryption's store writes: %w", err)
	}
	return nil, nil
}

// CTEs returns the held writes, and the device's pending writes that ride along with them, as
// data-modifying statements for the carrying statement's WITH clause. arg adds a parameter and
// returns its placeholder ($n).
func (c *Held) CTEs(arg func(v any) string) []string {
	var parts []string
	parts, c.carried = c.h.owner.parts(c.h.bt, arg)
	return parts
}

// Done ends the decryption with the carrying statement's outcome: err is nil when it ran (the held
// writes are in the database). It must be called exactly once, also when the statement was never
// run.
func (c *Held) Done(err error) {
	c.h.owner.rode(c.carried, err)
	c.h.end(err)
}
