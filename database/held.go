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
// InsertHeld returned sees the database as if the row had been written then. Inside a
// transaction they do not (see heldWrites.flush): the portal writes the held rows before it
// begins one. A statement that would read a held row in the same snapshot (the duplicate check of
// the same WhatsApp message delivered again, the Matrix inbox's check of the same event) writes
// the held rows before it rather than with it. A carrier never waits for another statement that
// is writing held rows: it then carries none, so inbox inserts of different connections do not
// queue behind one another.
//
// A carrying statement the server refuses is run again without the held rows, so that they
// cannot make a message's insert fail; the held rows stay held and are written on their own. Rows
// the server refuses there (a row whose portal was deleted, a value it cannot store) are written
// one by one, and a refused one is dropped with only its settlement written, so that one bad row
// does not hold up every reader. The held insert does nothing when the row exists already (ON
// CONFLICT DO NOTHING), as a second write of the same mapping would be.
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

// maxHeldPerStatement bounds the held rows a statement of their own writes, maxHeldPerCarrier
// those another statement carries; the rest wait for the next. Each count of rows is a statement
// of its own shape, which each connection prepares and keeps (stmtcache.go): a carrier, whose
// own statement has several shapes already, takes few.
const (
	maxHeldPerStatement = 64
	maxHeldPerCarrier   = 4
)

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

	lock sync.Mutex
	rows []heldWrite
	// inFlight are the rows taken by the statement that holds writing.
	inFlight []heldWrite
	timer    *time.Timer
	closed   bool
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

// hold keeps w for a later statement and starts the timer that writes it on its own. It returns
// false, holding nothing, once the Database is closing.
func (h *heldWrites) hold(w heldWrite) bool {
	w.at = time.Now()
	h.lock.Lock()
	defer h.lock.Unlock()
	if h.closed {
		return false
	}
	h.outstanding.Add(1)
	h.rows = append(h.rows, w)
	h.armLocked(h.delay)
	return true
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

// take removes up to limit held rows, oldest first, for the holder of writing.
func (h *heldWrites) take(limit int) []heldWrite {
	h.lock.Lock()
	defer h.lock.Unlock()
	n := min(len(h.rows), limit)
	if n == 0 {
		return nil
	}
	taken := make([]heldWrite, n)
	copy(taken, h.rows)
	h.rows = append(h.rows[:0], h.rows[n:]...)
	h.inFlight = taken
	return taken
}

// putBack holds rows (taken by take) again, before the rows held since, and arms the timer with d.
func (h *heldWrites) putBack(rows []heldWrite, d time.Duration) {
	h.lock.Lock()
	defer h.lock.Unlock()
	h.rows = append(rows, h.rows...)
	h.inFlight = nil
	h.armLocked(d)
}

// written counts rows (taken by take) as written.
func (h *heldWrites) written(rows []heldWrite) {
	h.lock.Lock()
	h.inFlight = nil
	h.lock.Unlock()
	h.outstanding.Add(-int64(len(rows)))
}

// anyHeld reports whether match holds for a row held or being written.
func (h *heldWrites) anyHeld(match func(*Message) bool) bool {
	h.lock.Lock()
	defer h.lock.Unlock()
	for _, list := range [][]heldWrite{h.inFlight, h.rows} {
		for _, w := range list {
			if match(w.msg) {
				return true
			}
		}
	}
	return false
}

// flush writes every held row, and waits for a statement carrying held rows to finish. On
// failure the rows stay held. Inside a transaction it does nothing: the transactions that touch
// these tables are begun by a portal for its own rows (portal/settle.go writeOutcome), or by
// MatrixInboxQuery.Enqueue for new rows, after writing the held rows (FlushHeld); rows held since
// are other portals' and concern none of the transaction's rows. (Writing them from inside would
// need a second connection of the pool while the transaction holds one.)
func (h *heldWrites) flush(ctx context.Context) error {
	if h == nil || h.outstanding.Load() == 0 {
		return nil
	} else if _, inTxn := h.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return nil
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	for {
		rows := h.take(maxHeldPerStatement)
		if len(rows) == 0 {
			return nil
		}
		err := h.write(ctx, rows)
		if isRefusal(err) {
			err = h.writeEach(ctx, rows)
		}
		if err != nil {
			h.putBack(rows, heldRetryDelay)
			return fmt.Errorf("failed to write held message map rows: %w", err)
		}
		h.written(rows)
	}
}

// writeEach writes rows one statement each, after the database refused their statement together
// (a row whose portal was deleted meanwhile, a value too large for an index, say), so that one
// row cannot hold up the others and every reader: a row refused so is dropped and only its
// settlement written, since its event was handled; a settlement refused too is dropped with it,
// leaving the event's inbox row pending for the next start. It stops at a failure that is not a
// refusal; writing the rows before it again does nothing (the insert keeps a row already there,
// and a settlement deletes an inbox row or marks it done).
func (h *heldWrites) writeEach(ctx context.Context, rows []heldWrite) error {
	for i, w := range rows {
		err := h.write(ctx, rows[i:i+1])
		if isRefusal(err) {
			h.log.Error().Err(err).Str("wa_message_id", w.msg.WAID).Stringer("event_id", w.msg.MXID).
				Msg("Database refused a held message map row, settling its event without it")
			if _, err = h.db.LoggingDB.ExecContext(ctx, w.settle.Query, w.settle.Args...); isRefusal(err) {
				h.log.Error().Err(err).Str("wa_message_id", w.msg.WAID).Stringer("event_id", w.msg.MXID).
					Msg("Database refused the settlement of a held message map row too, dropping it")
				err = nil
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isRefusal reports whether err is PostgreSQL's refusal of the statement itself, which running
// it again would not change: any error the server reported (a *pq.Error, which also means the
// statement was rolled back) but those of the classes that pass: 08 (connection), 40 (transaction
// rollback: serialization failure, deadlock), 53 (insufficient resources), 57 (operator
// intervention: cancelled, shutting down), 58 (system error) and XX (internal error).
func isRefusal(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code.Class() {
	case "08", "40", "53", "57", "58", "XX":
		return false
	}
	return true
}

// isServerError reports whether err was reported by the PostgreSQL server (a *pq.Error): its
// statement did not take effect. After another error (a connection lost, a context ended) the
// statement may have been committed.
func isServerError(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr)
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
// is held or the statement cannot carry them (not PostgreSQL, inside a transaction, another
// statement writing held rows right now: it does not wait for that one). When mustPrecede
// reports that the statement reads one of the rows held or being written, every held row is
// written first and nil is returned (with the error of that write). The caller runs its statement
// with the carrier's CTEs and then calls done exactly once.
func (h *heldWrites) carry(ctx context.Context, mustPrecede func(*Message) bool) (*heldCarrier, error) {
	if h == nil || h.outstanding.Load() == 0 || h.db.Dialect != dbutil.Postgres {
		return nil, nil
	} else if _, inTxn := h.db.Execable(ctx).(dbutil.Transaction); inTxn {
		return nil, nil
	}
	select {
	case h.writing <- struct{}{}:
	default:
		if mustPrecede != nil && h.anyHeld(mustPrecede) {
			return nil, h.flush(ctx)
		}
		return nil, nil
	}
	if mustPrecede != nil && h.anyHeld(mustPrecede) {
		h.release()
		return nil, h.flush(ctx)
	}
	rows := h.take(maxHeldPerCarrier)
	if len(rows) == 0 {
		h.release()
		return nil, nil
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
		c.h.written(c.rows)
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
	if !mq.held.hold(heldWrite{msg: &copied, settle: settle}) {
		return mq.InsertWith(ctx, m, settle)
	}
	return nil
}

// FlushHeld writes the message map rows held for a later statement (MessageQuery.InsertHeld) now.
// A clean stop calls it before it records what is still pending.
func (db *Database) FlushHeld(ctx context.Context) error {
	return db.held.flush(ctx)
}
