package database

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

// InboxState is the processing state of a Matrix inbox row.
type InboxState string

// The states of a Matrix inbox row. Rows start pending and end done or failed.
const (
	InboxPending InboxState = "pending"
	InboxDone    InboxState = "done"
	InboxFailed  InboxState = "failed"
)

const (
	inboxColumns = `seq, event_id, room_id, txn_id, event, received_at, attempts, last_error, state, handle_before`

	insertInboxEventQuery = `
		INSERT INTO matrix_inbox (event_id, room_id, txn_id, event, received_at, handle_before) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (event_id) DO NOTHING
		RETURNING seq, NOT EXISTS (SELECT 1 FROM messages WHERE mxid=$1)
	`
	// enqueueOneQuery marks a transaction processed and stores its one event in one statement
	// (PostgreSQL; $1: txn ID, $2: now in Unix milliseconds, then the event's ID, room, JSON and
	// handle_before). No row: the event is in the inbox already. The row also says whether the
	// message map had no row of the event (InboxEvent.Unbridged) and whether the transaction ID
	// had been processed before (InboxEvent.RepeatedTxn). A data-modifying CTE runs whether or
	// not the rest reads it.
	enqueueOneQuery = `WITH ` + enqueueOneTxnCTE + enqueueOneInsert
	// enqueueOneQuery's parts: its CTE, to which held message map rows can be added, and the rest.
	enqueueOneTxnCTE = `txn AS (
			INSERT INTO appservice_txns (txn_id, processed_at) VALUES ($1::text, $2::bigint)
			ON CONFLICT (txn_id) DO NOTHING
			RETURNING txn_id
		)`
	enqueueOneInsert = `
		INSERT INTO matrix_inbox (event_id, room_id, txn_id, event, received_at, handle_before)
		VALUES ($3::text, $4::text, $1::text, $5::text, $2::bigint, $6::bigint)
		ON CONFLICT (event_id) DO NOTHING
		RETURNING seq, NOT EXISTS (SELECT 1 FROM messages WHERE mxid=$3::text), NOT EXISTS (SELECT 1 FROM txn)
	`
	getInboxEventQuery       = `SELECT ` + inboxColumns + ` FROM matrix_inbox WHERE seq=$1`
	getInboxByEventIDQuery   = `SELECT ` + inboxColumns + ` FROM matrix_inbox WHERE event_id=$1`
	getPendingInboxQuery     = `SELECT ` + inboxColumns + ` FROM matrix_inbox WHERE state='pending' AND room_id=$1 ORDER BY seq`
	getPendingInboxRoomsQury = `
		SELECT room_id FROM matrix_inbox WHERE state='pending' GROUP BY room_id ORDER BY MIN(seq)
	`
	markInboxDoneQuery        = `UPDATE matrix_inbox SET state='done' WHERE seq=$1`
	markInboxFailedQuery      = `UPDATE matrix_inbox SET state='failed', last_error=$2 WHERE seq=$1`
	recordInboxAttemptQuery   = `UPDATE matrix_inbox SET attempts=attempts+1, last_error=$2 WHERE seq=$1`
	setInboxHandleBeforeQuery = `UPDATE matrix_inbox SET handle_before=$2 WHERE seq=$1 AND state='pending'`
	pruneInboxQuery           = `DELETE FROM matrix_inbox WHERE state<>'pending' AND received_at < $1`
)

// ErrInboxEventWithoutID is returned by Enqueue for an event that has no event ID (such as an
// ephemeral event): the inbox deduplicates by event ID, so it cannot hold such events.
var ErrInboxEventWithoutID = errors.New("matrix inbox event has no event ID")

// InboxEvent is a Matrix event received from the homeserver and kept until the bridge has handled it.
type InboxEvent struct {
	// Seq is assigned by the database on insert and orders events in arrival order.
	Seq     int64
	EventID id.EventID
	RoomID  id.RoomID
	// TxnID is the appservice transaction that delivered the event.
	TxnID string
	// HandleBefore, when not 0, is the seq of a row this one must be handled before: the
	// homeserver pushed this event late, after that newer one (bridge/late_events.go).
	HandleBefore int64
	// Event is the event as received, in JSON.
	Event      json.RawMessage
	ReceivedAt time.Time
	// Arrived is when this process began storing the event (before its insert), with the monotonic
	// clock reading; zero for a row read from the database. It starts the measurement of metrics'
	// message_handling_seconds.
	Arrived time.Time
	// Attempts counts failed handling attempts recorded with RecordAttempt; LastError is the latest error.
	Attempts  int
	LastError string
	State     InboxState
	// Unbridged is set by Enqueue when the message map had no row of the event as it was stored
	// (never for a row read back from the database). Only handling this row makes such a row (the
	// inbox holds one row per event ID), so until the first attempt to handle it the event is not
	// bridged.
	Unbridged bool
	// RepeatedTxn is set by Enqueue when the event was stored although its transaction ID had
	// been processed before: the homeserver sent that transaction again with events it did not
	// hold the first time (Dendrite does, see Enqueue). Never set for a row read back.
	RepeatedTxn bool
}

func newInboxEvent() *InboxEvent { return &InboxEvent{} }

// Scan reads one matrix_inbox row.
func (e *InboxEvent) Scan(row dbutil.Scannable) (*InboxEvent, error) {
	var event string
	var received int64
	err := row.Scan(&e.Seq, &e.EventID, &e.RoomID, &e.TxnID, &event, &received, &e.Attempts, &e.LastError, &e.State, &e.HandleBefore)
	if err != nil {
		return nil, err
	}
	e.Event = json.RawMessage(event)
	e.ReceivedAt = fromUnixMilli(received)
	return e, nil
}

// MatrixInboxQuery reads and writes the matrix_inbox table: the durable queue of Matrix events that
// were acknowledged to the homeserver but not yet handled.
//
// Seq values grow in commit order as long as one transaction is enqueued at a time, which is how
// homeservers deliver appservice transactions.
type MatrixInboxQuery struct {
	qh *dbutil.QueryHelper[*InboxEvent]
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// Enqueue stores the events of one appservice transaction and marks the transaction processed, all
// in one database transaction (on PostgreSQL a transaction of one event in one statement): after a
// crash either all of it is stored or none of it is.
//
// An event whose ID is already in the inbox (from an earlier transaction, or an earlier push of
// this one) is skipped, whether or not txnID was processed before: a transaction ID does not name
// a fixed set of events. Dendrite (appservice/consumers/roomserver.go, v0.13) names a push after
// the stream timestamp of its batch's first event, and when a push fails it pushes that event
// again in a batch that also holds the events that arrived meanwhile, under the same ID; the
// bridge may have stored the first push (its answer lost, or the bridge killed before answering).
// For each event stored, Seq, TxnID, ReceivedAt, State, Unbridged and RepeatedTxn are filled in;
// inserted counts them. An empty txnID stores the events without marking a transaction.
func (iq *MatrixInboxQuery) Enqueue(ctx context.Context, txnID string, events []*InboxEvent) (inserted int, err error) {
	for _, evt := range events {
		if evt.EventID == "" {
			return 0, ErrInboxEventWithoutID
		}
	}
	db := iq.qh.GetDB()
	now := time.Now()
	// stored fills in what storing evt as seq gave it.
	stored := func(evt *InboxEvent, seq int64, repeated bool) {
		evt.Seq, evt.TxnID, evt.ReceivedAt, evt.Arrived, evt.State = seq, txnID, fromUnixMilli(now.UnixMilli()), now, InboxPending
		evt.Attempts, evt.LastError, evt.RepeatedTxn = 0, "", repeated
		inserted++
	}
	if len(events) == 1 && txnID != "" && db.Dialect == dbutil.Postgres {
		// The usual transaction, one message: one statement, one round trip, instead of four.
		evt := events[0]
		var seq int64
		var repeated bool
		args := []any{txnID, now.UnixMilli(), string(evt.EventID), string(evt.RoomID), string(evt.Event), evt.HandleBefore}
		// Held message map rows ride along, unless one is this event's (its Unbridged check reads it).
		held, err := iq.held.carry(ctx, func(m *Message) bool { return m.MXID == evt.EventID })
		if err != nil {
			return 0, fmt.Errorf("failed to enqueue appservice transaction %s: %w", txnID, err)
		}
		if held != nil {
			ctes := held.ctes(func(v any) string {
				args = append(args, v)
				return "$" + strconv.Itoa(len(args))
			})
			query := "WITH " + strings.Join(append(ctes, enqueueOneTxnCTE), ", ") + enqueueOneInsert
			err = db.QueryRow(ctx, query, args...).Scan(&seq, &evt.Unbridged, &repeated)
			if errors.Is(err, sql.ErrNoRows) {
				held.done(nil) // no row is an answer: the statement ran
			} else {
				held.done(err) // rows of a statement that may have run are written again: no harm
			}
			// A statement the server refused is tried again without the held rows (after a lost
			// connection it may have been committed: that error stands).
			if isServerError(err) {
				err = db.QueryRow(ctx, enqueueOneQuery, args[:6]...).Scan(&seq, &evt.Unbridged, &repeated)
			}
		} else {
			err = db.QueryRow(ctx, enqueueOneQuery, args...).Scan(&seq, &evt.Unbridged, &repeated)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		} else if err != nil {
			return 0, fmt.Errorf("failed to enqueue appservice transaction %s: %w", txnID, err)
		}
		stored(evt, seq, repeated)
		return inserted, nil
	}
	if err = iq.held.flush(ctx); err != nil {
		return 0, fmt.Errorf("failed to enqueue appservice transaction %s: %w", txnID, err)
	}
	err = db.DoTxn(ctx, nil, func(ctx context.Context) error {
		inserted = 0
		already := false
		if txnID != "" {
			var err error
			if already, err = (&AppserviceTxnQuery{db: db}).MarkProcessed(ctx, txnID); err != nil {
				return err
			}
		}
		for _, evt := range events {
			var seq int64
			err := db.QueryRow(ctx, insertInboxEventQuery,
				string(evt.EventID), string(evt.RoomID), txnID, string(evt.Event), now.UnixMilli(), evt.HandleBefore).Scan(&seq, &evt.Unbridged)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return fmt.Errorf("failed to insert event %s into matrix inbox: %w", evt.EventID, err)
			}
			stored(evt, seq, already)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("failed to enqueue appservice transaction %s: %w", txnID, err)
	}
	return inserted, nil
}

// Get returns the inbox row with the given seq, or nil if there is none.
func (iq *MatrixInboxQuery) Get(ctx context.Context, seq int64) (*InboxEvent, error) {
	if err := iq.held.flush(ctx); err != nil {
		return nil, err
	}
	return iq.qh.QueryOne(ctx, getInboxEventQuery, seq)
}

// SetHandleBefore makes the pending row seq go before the row before (HandleBefore).
func (iq *MatrixInboxQuery) SetHandleBefore(ctx context.Context, seq, before int64) error {
	if err := iq.held.flush(ctx); err != nil {
		return err
	}
	return iq.qh.Exec(ctx, setInboxHandleBeforeQuery, seq, before)
}

// GetByEventID returns the inbox row of a Matrix event, or nil if there is none.
func (iq *MatrixInboxQuery) GetByEventID(ctx context.Context, eventID id.EventID) (*InboxEvent, error) {
	if err := iq.held.flush(ctx); err != nil {
		return nil, err
	}
	return iq.qh.QueryOne(ctx, getInboxByEventIDQuery, string(eventID))
}

// Pending returns the room's pending events in arrival (seq) order.
func (iq *MatrixInboxQuery) Pending(ctx context.Context, roomID id.RoomID) ([]*InboxEvent, error) {
	if err := iq.held.flush(ctx); err != nil {
		return nil, err
	}
	return iq.qh.QueryMany(ctx, getPendingInboxQuery, string(roomID))
}

// PendingRooms returns the rooms that have pending events, ordered by their oldest pending event.
func (iq *MatrixInboxQuery) PendingRooms(ctx context.Context) ([]id.RoomID, error) {
	if err := iq.held.flush(ctx); err != nil {
		return nil, err
	}
	rows, err := iq.qh.GetDB().Query(ctx, getPendingInboxRoomsQury)
	return dbutil.NewRowIterWithError(rows, dbutil.ScanSingleColumn[id.RoomID], err).AsList()
}

// MarkDone marks an event as handled.
func (iq *MatrixInboxQuery) MarkDone(ctx context.Context, seq int64) error {
	if err := iq.held.flush(ctx); err != nil {
		return err
	}
	return iq.qh.Exec(ctx, markInboxDoneQuery, seq)
}

// MarkDoneStatement is MarkDone as a statement, to run together with another write
// (MessageQuery.InsertWith).
func (iq *MatrixInboxQuery) MarkDoneStatement(seq int64) Statement {
	return Statement{Query: markInboxDoneQuery, Args: []any{seq}}
}

// MarkFailed gives up on an event for good, keeping handlingErr as its last error. It does not count
// an attempt; record the failed attempt itself with RecordAttempt.
func (iq *MatrixInboxQuery) MarkFailed(ctx context.Context, seq int64, handlingErr error) error {
	if err := iq.held.flush(ctx); err != nil {
		return err
	}
	return iq.qh.Exec(ctx, markInboxFailedQuery, seq, errString(handlingErr))
}

// RecordAttempt counts one failed handling attempt and stores its error; the event stays pending.
func (iq *MatrixInboxQuery) RecordAttempt(ctx context.Context, seq int64, attemptErr error) error {
	if err := iq.held.flush(ctx); err != nil {
		return err
	}
	return iq.qh.Exec(ctx, recordInboxAttemptQuery, seq, errString(attemptErr))
}

// Prune removes done and failed events received more than maxAge ago and returns how many.
func (iq *MatrixInboxQuery) Prune(ctx context.Context, maxAge time.Duration) (int64, error) {
	if err := iq.held.flush(ctx); err != nil {
		return 0, err
	}
	res, err := iq.qh.GetDB().Exec(ctx, pruneInboxQuery, time.Now().Add(-maxAge).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to prune matrix inbox: %w", err)
	}
	return res.RowsAffected()
}
