package database

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
)

// Message map rows held for a later statement (PostgreSQL only).
//
// A message bridged either way ends with one write: its message map row together with the
// settlement of its inbox row (MessageQuery.InsertWith). Under a steady flow of messages the next
// statement that stores a message follows within milliseconds: the WhatsApp inbox's insert of the
// next WhatsApp message (WhatsAppInboxQuery.EnqueueLookingUp, Enqueue) or the Matrix inbox's
// insert of the next appservice transaction (MatrixInboxQuery.Enqueue). MessageQuery.InsertHeld
// therefore holds the row and its settlement in memory, and that next statement writes them as
// more data-modifying CTEs of its own: one statement and one commit per message instead of two.
// When no such statement comes within HeldDelay, the rows are written in a statement of their own.
//
// Every method that reads or writes the tables a held write touches (messages, placeholders,
// whatsapp_inbox, matrix_inbox, and portals' deletion, which cascades to messages) first writes
// the held rows, and waits for a statement carrying them to finish: whatever runs after
// InsertHeld returned sees the database as if the row had been written then. A statement that
// would read a held row in the same snapshot (the duplicate check of the same WhatsApp message, the
// Matrix inbox's check of the same event) writes the held rows before it rather than with it.
//
// A carrying statement that fails is run again without the held rows, so that they cannot make a
// message's insert fail; the held rows stay held and are written on their own. The held insert
// does nothing when the row exists already (ON CONFLICT DO NOTHING), as a second write of the same
// mapping would be.
//
// What a crash loses: the held rows of at most the last HeldDelay (or of a database that stayed
// unreachable). Their inbox rows are still pending, so the next start handles those events again,
// as after a crash between the send and the map write before: a WhatsApp message is looked for in
// its room before it is sent (portal.WithMaybeSent), a Matrix message goes to WhatsApp again with
// the same derived message ID. A clean stop writes them (Database.FlushHeld) before it records
// which rows are still pending.

// HeldDelay is how long a held row waits for a statement to ride along with before it is written
// on its own.
const HeldDelay = 100 * time.Millisecond

// heldRetryDelay is how long held rows wait after their own statement failed (the database
// unreachable, say) before the next try.
const heldRetryDelay = 5 * time.Second

// maxHeldPerStatement bounds the held rows one statement writes; the rest wait for the next.
const maxHeldPerStatement = 64

// heldInsertMessageQuery is insertMessageQuery that keeps a row already there.
const heldInsertMessageQuery = insertMessageQuery + ` ON CONFLICT DO NOTHING`

// heldWrite is one held message map row and the settlement of its inbox row.
type heldWrite struct {
	msg    *Message
	settle Statement
	at     time.Time // when it was held
}

// heldWrites are the rows held for a later statement. Its methods are safe on a nil *heldWrites
// (nothing is ever held there).
type heldWrites struct {
	db  *dbutil.Database
	log zerolog.Logger
	// delay is HeldDelay when the Database was made.
	delay time.Duration
	// writing (a semaphore of one: acquire, release) is held by whoever writes held rows (a
	// flush, or a statement carrying them) while its statement runs, so that a reader that waits
	// for it reads after the rows were written or were put back to be held again.
	writing chan struct{}
	// outstanding counts the rows held or being written.
	outstanding atomic.Int64

	lock   sync.Mutex
	rows   []heldWrite
	timer  *time.Timer
	closed bool
}

func newHeldWrites(db *dbutil.Database) *heldWrites {
	return &heldWrites{db: db, log: zerolog.Nop(), delay: HeldDelay, writing: make(chan struct{}, 1)}
}

// acquire takes writing, waiting at most until ctx ends.
func (h *heldWrites) acquire(ctx context.Context) error {
	select {
	case h.writing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for held message map rows to be written: %w", ctx.Err())
	}
}

func (h *heldWrites) release() { <-h.writing }

// hold keeps w for a later statement and starts the timer that writes it on its own.
func (h *heldWrites) hold(w heldWrite) {
	h.outstanding.Add(1)
	w.at = time.Now()
	h.lock.Lock()
	defer h.lock.Unlock()
	h.rows = append(h.rows, w)
	h.armLocked(h.delay)
}

// armLocked starts the timer to flush after d unless it runs already or nothing is held.
func (h *heldWrites) armLocked(d time.Duration) {
	if h.closed || len(h.rows) == 0 || h.timer != nil {
		return
	}
	h.timer = time.AfterFunc(d, h.flushOnTimer)
}

// flushOnTimer writes the held rows once the oldest has waited delay; until then it waits on,
// so that rows a carrier took meanwhile leave the younger ones their chance to ride along.
func (h *heldWrites) flushOnTimer() {
	h.lock.Lock()
	h.timer = nil
	if len(h.rows) == 0 {
		h.lock.Unlock()
		return
	} else if wait := h.delay - time.Since(h.rows[0].at); wait > 0 {
		h.armLocked(wait)
		h.lock.Unlock()
		return
	}
	h.lock.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.flush(ctx); err != nil {
		h.log.Warn().Err(err).Msg("Failed to write held message map rows, trying again later")
		h.lock.Lock()
		h.armLocked(heldRetryDelay)
		h.lock.Unlock()
	}
}

// take removes up to maxHeldPerStatement held rows, oldest first.
func (h *heldWrites) take() []heldWrite {
	h.lock.Lock()
	defer h.lock.Unlock()
	n := min(len(h.rows), maxHeldPerStatement)
	if n == 0 {
		return nil
	}
	taken := make([]heldWrite, n)
	copy(taken, h.rows)
	h.rows = append(h.rows[:0], h.rows[n:]...)
	return taken
}

// putBack holds rows (taken by take) again, before the rows held since, and arms the timer with d.
func (h *heldWrites) putBack(rows []heldWrite, d time.Duration) {
	h.lock.Lock()
	defer h.lock.Unlock()
	h.rows = append(rows, h.rows...)
	h.armLocked(d)
}

// written counts rows as written.
func (h *heldWrites) written(n int) {
	h.outstanding.Add(-int64(n))
}

// flush writes every held row, and waits for a statement carrying held rows to finish. It runs
// outside any transaction in ctx. On failure the rows stay held.
func (h *heldWrites) flush(ctx context.Context) error {
	if h == nil || h.outstanding.Load() == 0 {
		return nil
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	for {
		rows := h.take()
		if len(rows) == 0 {
			return nil
		}
		err := h.write(ctx, rows)
		if isIntegrityViolation(err) {
			err = h.writeEach(ctx, rows)
		}
		if err != nil {
			h.putBack(rows, heldRetryDelay)
			return fmt.Errorf("failed to write held message map rows: %w", err)
		}
		h.written(len(rows))
	}
}

// writeEach writes rows one statement each, after their statement together broke an integrity
// constraint (a row whose portal was deleted meanwhile, say): a row refused so is dropped and
// only its settlement written, since its event was handled. It stops at another failure; writing
// the rows before it again does nothing (the insert keeps a row already there, and a settlement
// deletes an inbox row or marks it done).
func (h *heldWrites) writeEach(ctx context.Context, rows []heldWrite) error {
	for i, w := range rows {
		err := h.write(ctx, rows[i:i+1])
		if isIntegrityViolation(err) {
			h.log.Error().Err(err).Str("wa_message_id", w.msg.WAID).Stringer("event_id", w.msg.MXID).
				Msg("Database refused a held message map row, settling its event without it")
			_, err = h.db.LoggingDB.ExecContext(ctx, w.settle.Query, w.settle.Args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isIntegrityViolation reports whether err is PostgreSQL's refusal of a row (SQLSTATE class 23:
// a foreign key, unique, not-null or check constraint).
func isIntegrityViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code.Class() == "23"
}

// write writes rows in one statement of their own; writing must be held.
func (h *heldWrites) write(ctx context.Context, rows []heldWrite) error {
	var args []any
	ctes := heldCTEs(rows, func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	})
	query := "WITH " + strings.Join(ctes, ", ") + " SELECT 1"
	// Outside the caller's transaction: the rows are not the transaction's to roll back.
	_, err := h.db.LoggingDB.ExecContext(ctx, query, args...)
	return err
}

// heldCTEs returns rows as data-modifying CTEs (name AS (...)), adding their parameters with arg.
func heldCTEs(rows []heldWrite, arg func(v any) string) []string {
	ctes := make([]string, 0, 2*len(rows))
	for i, w := range rows {
		insert := Statement{Query: heldInsertMessageQuery, Args: w.msg.sqlVariables()}
		ctes = append(ctes,
			fmt.Sprintf("held%d AS (%s)", i, insert.bound(arg)),
			fmt.Sprintf("held%ds AS (%s)", i, w.settle.bound(arg)))
	}
	return ctes
}

// heldCarrier is held rows riding along with a statement; writing is held until done.
type heldCarrier struct {
	h    *heldWrites
	rows []heldWrite
}

// carry returns the held rows for the statement about to run in ctx to carry, or nil when nothing
// is held or the statement cannot carry them (not PostgreSQL, inside a transaction). When
// mustPrecede reports that the statement reads one of the rows, every held row is written first
// and nil is returned (with the error of that write). The caller runs its statement with the
// carrier's CTEs and then calls done exactly once.
func (h *heldWrites) carry(ctx context.Context, mustPrecede func(*Message) bool) (*heldCarrier, error) {
	if h == nil || h.outstanding.Load() == 0 || h.db.Dialect != dbutil.Postgres {
		return nil, nil
	} else if _, inTxn := h.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return nil, h.flush(ctx)
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	rows := h.take()
	if len(rows) == 0 {
		h.release()
		return nil, nil
	}
	for _, w := range rows {
		if mustPrecede != nil && mustPrecede(w.msg) {
			h.putBack(rows, h.delay)
			h.release()
			return nil, h.flush(ctx)
		}
	}
	return &heldCarrier{h: h, rows: rows}, nil
}

// ctes returns the carried rows as CTEs, adding their parameters with arg.
func (c *heldCarrier) ctes(arg func(v any) string) []string {
	if c == nil {
		return nil
	}
	return heldCTEs(c.rows, arg)
}

// done is told whether the carrying statement ran (nil) or failed; failed rows are held again.
func (c *heldCarrier) done(err error) {
	if c == nil {
		return
	}
	if err == nil {
		c.h.written(len(c.rows))
	} else {
		c.h.putBack(c.rows, c.h.delay)
	}
	c.h.release()
}

// close writes the held rows (waiting at most until ctx ends) and stops the timer.
func (h *heldWrites) close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	err := h.flush(ctx)
	h.lock.Lock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.lock.Unlock()
	return err
}

// InsertHeld stores a message part and runs settle atomically with it, as InsertWith does, but on
// PostgreSQL outside a transaction it may hold both for up to HeldDelay, for a later statement to
// write them together with its own (see "Message map rows held for a later statement"). Every
// read of the message map, placeholders and inbox tables through this package sees the row once
// InsertHeld returned. settle must be an INSERT, UPDATE or DELETE of another table than messages.
func (mq *MessageQuery) InsertHeld(ctx context.Context, m *Message, settle Statement) error {
	db := mq.qh.GetDB()
	if mq.held == nil || db.Dialect != dbutil.Postgres {
		return mq.InsertWith(ctx, m, settle)
	} else if _, inTxn := db.Execable(ctx).(dbutil.Transaction); inTxn {
		return mq.InsertWith(ctx, m, settle)
	}
	copied := *m
	mq.held.hold(heldWrite{msg: &copied, settle: settle})
	return nil
}

// FlushHeld writes the message map rows held for a later statement (MessageQuery.InsertHeld) now.
// A clean stop calls it before it records what is still pending.
func (db *Database) FlushHeld(ctx context.Context) error {
	return db.held.flush(ctx)
}
