package database

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	waInboxColumns = `seq, user_mxid, login_phone, portal_jid, portal_receiver, kind, version, wa_id, payload, received_at, attempts, last_error, state`

	insertWAInboxQuery = `
		INSERT INTO whatsapp_inbox (user_mxid, login_phone, portal_jid, portal_receiver, kind, version, wa_id, payload, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING seq
	`
	// The insert together with the duplicate check of the message it stores (lookUpIncomingQuery's
	// columns after seq) is one statement (PostgreSQL only): the insert as the CTE
	// enqueueLookingUpCTE, then enqueueLookingUpSelect.
	enqueueLookingUpCTE    = `stored AS (` + insertWAInboxQuery + `)`
	enqueueLookingUpSelect = `
		SELECT stored.seq, EXISTS(SELECT 1 FROM messages WHERE portal_jid=$3 AND portal_receiver=$4 AND wa_id=$7),
			ph.portal_jid, ph.portal_receiver, ph.wa_id, ph.sender, ph.mxid, ph.timestamp, ph.created_at
		FROM stored
		LEFT JOIN placeholders AS ph ON ph.portal_jid=$3 AND ph.portal_receiver=$4 AND ph.wa_id=$7
	`
	getWAInboxQuery        = `SELECT ` + waInboxColumns + ` FROM whatsapp_inbox WHERE seq=$1`
	getPendingWAInboxQuery = `
		SELECT ` + waInboxColumns + ` FROM whatsapp_inbox
		WHERE state='pending' AND portal_jid=$1 AND portal_receiver=$2 ORDER BY seq
	`
	getPendingWAPortalsQuery = `
		SELECT portal_jid, portal_receiver FROM whatsapp_inbox WHERE state='pending'
		GROUP BY portal_jid, portal_receiver ORDER BY MIN(seq)
	`
	// The settling queries end in "seq IN (": seqList completes them. A handled event's row is
	// deleted: nothing reads it afterwards (a repeated delivery is recognised by the message map),
	// and a DELETE costs the database less than an UPDATE, which here cannot be a heap-only update
	// (state is in the pending index's predicate) and so writes a new row version and its index
	// entry.
	markWAInboxDoneQuery      = `DELETE FROM whatsapp_inbox WHERE seq IN (`
	markWAInboxFailedQuery    = `UPDATE whatsapp_inbox SET state='failed', last_error=$1 WHERE seq IN (`
	recordWAInboxAttemptQuery = `UPDATE whatsapp_inbox SET attempts=attempts+1, last_error=$2 WHERE seq=$1`
	// Only failed rows are left to prune (and done rows of versions that kept handled rows).
	pruneWAInboxQuery        = `DELETE FROM whatsapp_inbox WHERE state<>'pending' AND received_at < $1`
	pendingWAInboxStatsQuery = `SELECT COUNT(*), MIN(received_at) FROM whatsapp_inbox WHERE state='pending'`
	pendingWAReceivedAtQuery = `SELECT seq, received_at FROM whatsapp_inbox WHERE state='pending'`
)

// WhatsAppInboxEvent is a WhatsApp event received by one user's connection, stored before WhatsApp
// got its acknowledgement and kept until the bridge has handled it.
type WhatsAppInboxEvent struct {
	// Seq is assigned by the database on insert and orders events in arrival order.
	Seq int64
	// User is the bridge user whose connection received the event.
	User id.UserID
	// Login is the phone number (digits) of the user's login that received it; "" for events
	// stored before users had several logins (the user's default login).
	Login string
	// Portal is the portal the event was bound for when it arrived; the events of one portal are
	// handled in Seq order.
	Portal PortalKey
	// Kind and Version name the serialised form of Payload (whatsapp.EncodeEvent).
	Kind    string
	Version int
	// WAID is the WhatsApp message ID the event is about, for logs ("" when there is none).
	WAID    types.MessageID
	Payload []byte
	// Event is the event Payload was encoded from, kept in memory by the process that stored the
	// row so that its handler need not decode Payload again; nil for a row read from the database.
	// It is not stored.
	Event any
	// Known is what the process that stored the row learned while storing it, for its handler
	// (for a message, its early duplicate check: portal.KnownIncoming); nil for a row read from
	// the database. It is not stored.
	Known any
	// ReceivedAt is when the event was stored.
	ReceivedAt time.Time
	// Arrived is when this process began storing the event (before its insert), with the monotonic
	// clock reading; zero for a row read from the database. It starts the measurement of metrics'
	// message_handling_seconds.
	Arrived time.Time
	// Attempts counts failed handling attempts recorded with RecordAttempt; LastError is the latest.
	Attempts  int
	LastError string
	State     InboxState
}

func newWhatsAppInboxEvent() *WhatsAppInboxEvent { return &WhatsAppInboxEvent{} }

// Scan reads one whatsapp_inbox row.
func (e *WhatsAppInboxEvent) Scan(row dbutil.Scannable) (*WhatsAppInboxEvent, error) {
	var jid, receiver, payload string
	var received int64
	err := row.Scan(&e.Seq, &e.User, &e.Login, &jid, &receiver, &e.Kind, &e.Version, &e.WAID, &payload, &received,
		&e.Attempts, &e.LastError, &e.State)
	if err != nil {
		return nil, err
	}
	if e.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	e.Payload = []byte(payload)
	e.ReceivedAt = fromUnixMilli(received)
	return e, nil
}

// WhatsAppInboxQuery reads and writes the whatsapp_inbox table: the durable queue of WhatsApp
// events that were acknowledged to WhatsApp but not yet bridged.
//
// Seq values grow in commit order as long as each connection stores one event at a time, which is
// how whatsmeow dispatches events; events of two connections for one portal (a shared group) are
// ordered by when they were stored.
type WhatsAppInboxQuery struct {
	qh *dbutil.QueryHelper[*WhatsAppInboxEvent]
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// Carrier is writes of another store on the same database that ride along with a statement of
// the bridge's, as data-modifying CTEs of it, so that both are written by one statement and one
// commit: whatsmeow's store writes of the decryption of the message being stored, which
// internal/sessionlock holds for that message's insert (sessionlock.Held). PostgreSQL only.
type Carrier interface {
	// CTEs returns the writes as data-modifying statements, adding their parameters with arg
	// (which returns the parameter's placeholder, $n).
	CTEs(arg func(v any) string) []string
	// Done is told the carrying statement's outcome: nil when it ran. It is called exactly once,
	// also when the statement was not run.
	Done(err error)
}

// errCarriedNotPostgres and errCarriedInTransaction are the failures of a statement asked to carry
// writes on SQLite, or inside a transaction.
var (
	errCarriedNotPostgres   = errors.New("writes can only ride along with a statement on PostgreSQL")
	errCarriedInTransaction = errors.New("writes cannot ride along with a statement inside a transaction")
)

// withCarried returns the statement main, whose own CTEs (name AS (...)) are ctes, with the
// carried writes as more CTEs before those.
func withCarried(carried, ctes []string, main string) string {
	all := make([]string, 0, len(carried)+len(ctes))
	for i, c := range carried {
		all = append(all, fmt.Sprintf("carried%d AS (%s)", i, c))
	}
	all = append(all, ctes...)
	if len(all) == 0 {
		return main
	}
	return "WITH " + strings.Join(all, ", ") + main
}

// Enqueue stores an event as pending (in one statement, so it is stored entirely or not at all)
// and fills in its Seq, ReceivedAt and State. carry (nil: none) rides along with the insert, on
// PostgreSQL only (elsewhere nothing is stored and an error returned).
func (q *WhatsAppInboxQuery) Enqueue(ctx context.Context, evt *WhatsAppInboxEvent, carry Carrier) error {
	return q.enqueue(ctx, evt, nil, insertWAInboxQuery, carry, nil, func(row dbutil.Scannable) error { return row.Scan(&evt.Seq) })
}

// IncomingCheck is the answer of a WhatsApp message's duplicate check: whether the message is in
// its portal's message map already, and its placeholder (nil: none).
type IncomingCheck struct {
	Bridged     bool
	Placeholder *Placeholder
}

// EnqueueLookingUp stores a message as Enqueue does (with carry riding along) and answers its
// duplicate check as PlaceholderQuery.LookUpIncoming does, taken after the row was stored: on
// PostgreSQL in the same statement, elsewhere in a second one. An error means nothing was stored;
// a nil check with a nil error means the row was stored but the check failed (its handler asks
// again).
func (q *WhatsAppInboxQuery) EnqueueLookingUp(ctx context.Context, evt *WhatsAppInboxEvent, carry Carrier) (*IncomingCheck, error) {
	var check IncomingCheck
	db := q.qh.GetDB()
	if db.Dialect != dbutil.Postgres {
		if err := q.Enqueue(ctx, evt, carry); err != nil {
			return nil, err
		}
		jid, receiver := evt.Portal.sqlArgs()
		var err error
		if check.Bridged, check.Placeholder, err = scanIncoming(db.QueryRow(ctx, lookUpIncomingQuery, jid, receiver, string(evt.WAID))); err != nil {
			return nil, nil
		}
		return &check, nil
	}
	var checkErr error
	evt.Seq = 0
	// The duplicate check reads the message map in the statement's snapshot: a held row of this
	// message (delivered again) is written before it, not with it.
	sameMessage := func(m *Message) bool { return m.Portal == evt.Portal && m.WAID == string(evt.WAID) }
	err := q.enqueue(ctx, evt, []string{enqueueLookingUpCTE}, enqueueLookingUpSelect, carry, sameMessage, func(row dbutil.Scannable) error {
		check.Bridged, check.Placeholder, checkErr = scanIncoming(row, &evt.Seq)
		if evt.Seq != 0 {
			// The statement ran, so the row is stored; a placeholder that cannot be read spoils
			// only the check.
			return nil
		}
		return checkErr
	})
	if err != nil {
		return nil, err
	} else if checkErr != nil {
		return nil, nil
	}
	return &check, nil
}

// enqueue runs the statement main with its CTEs ctes, an insert of evt's columns ($1 to $9),
// with carry's writes and the held message map rows riding along, and scan on its row, and fills
// in evt's Seq (through scan), ReceivedAt and State. scan returns nil when the statement ran.
// reads (nil: none) tells a held row the statement reads (heldWrites.carry). When the server
// refuses the statement with held rows, it runs once more without them (they stay held).
func (q *WhatsAppInboxQuery) enqueue(ctx context.Context, evt *WhatsAppInboxEvent, ctes []string, main string, carry Carrier, reads func(*Message) bool, scan func(row dbutil.Scannable) error) (err error) {
	jid, receiver := evt.Portal.sqlArgs()
	now := time.Now()
	args := []any{string(evt.User), evt.Login, jid, receiver, evt.Kind, evt.Version, string(evt.WAID), string(evt.Payload), now.UnixMilli()}
	var carried []string
	ran := false
	if carry != nil {
		defer func() {
			if !ran && err == nil {
				err = errors.New("the statement carrying writes did not run") // a panic
			}
			carry.Done(err)
		}()
		db := q.qh.GetDB()
		if db.Dialect != dbutil.Postgres {
			return fmt.Errorf("failed to store WhatsApp %s event for %s: %w", evt.Kind, evt.Portal, errCarriedNotPostgres)
		} else if _, inTxn := db.Execable(ctx).(dbutil.Transaction); inTxn {
			// Done would be told before the transaction's outcome is known.
			return fmt.Errorf("failed to store WhatsApp %s event for %s: %w", evt.Kind, evt.Portal, errCarriedInTransaction)
		}
		carried = carry.CTEs(func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		})
	}
	held, err := q.held.carry(ctx, reads)
	if err != nil {
		return fmt.Errorf("failed to store WhatsApp %s event for %s: %w", evt.Kind, evt.Portal, err)
	}
	if held != nil {
		own := len(args)
		heldCTEs := held.ctes(func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		})
		err = scan(q.qh.GetDB().QueryRow(ctx, withCarried(carried, append(heldCTEs, ctes...), main), args...))
		held.done(err)
		args = args[:own]
	}
	// Again without the held rows only when the server refused the statement (so it did not
	// take effect): after a lost connection it may have been committed.
	if held == nil || isServerError(err) {
		err = scan(q.qh.GetDB().QueryRow(ctx, withCarried(carried, ctes, main), args...))
	}
	ran = true
	if err != nil {
		return fmt.Errorf("failed to store WhatsApp %s event for %s: %w", evt.Kind, evt.Portal, err)
	}
	evt.ReceivedAt, evt.Arrived, evt.State, evt.Attempts, evt.LastError = fromUnixMilli(now.UnixMilli()), now, InboxPending, 0, ""
	return nil
}

// Get returns the row with the given seq, or nil if there is none.
func (q *WhatsAppInboxQuery) Get(ctx context.Context, seq int64) (*WhatsAppInboxEvent, error) {
	if err := q.held.flush(ctx); err != nil {
		return nil, err
	}
	return q.qh.QueryOne(ctx, getWAInboxQuery, seq)
}

// Pending returns the portal's pending events in arrival (seq) order.
func (q *WhatsAppInboxQuery) Pending(ctx context.Context, portal PortalKey) ([]*WhatsAppInboxEvent, error) {
	if err := q.held.flush(ctx); err != nil {
		return nil, err
	}
	jid, receiver := portal.sqlArgs()
	return q.qh.QueryMany(ctx, getPendingWAInboxQuery, jid, receiver)
}

// PendingPortals returns the portals that have pending events, ordered by their oldest one.
func (q *WhatsAppInboxQuery) PendingPortals(ctx context.Context) ([]PortalKey, error) {
	if err := q.held.flush(ctx); err != nil {
		return nil, err
	}
	rows, err := q.qh.GetDB().Query(ctx, getPendingWAPortalsQuery)
	return dbutil.NewRowIterWithError(rows, func(row dbutil.Scannable) (PortalKey, error) {
		var jid, receiver string
		if err := row.Scan(&jid, &receiver); err != nil {
			return PortalKey{}, err
		}
		return parsePortalKey(jid, receiver)
	}, err).AsList()
}

// MarkDone settles an event as handled, and with it the events in also (read receipts it stands
// for), in one statement: their rows are deleted (State InboxDone is only found in rows of earlier
// versions).
func (q *WhatsAppInboxQuery) MarkDone(ctx context.Context, seq int64, also ...int64) error {
	if err := q.held.flush(ctx); err != nil {
		return err
	}
	query, args := seqList(markWAInboxDoneQuery, nil, seq, also)
	return q.qh.Exec(ctx, query, args...)
}

// MarkDoneStatement is MarkDone(seq) as a statement, to run together with another write
// (MessageQuery.InsertWith).
func (q *WhatsAppInboxQuery) MarkDoneStatement(seq int64) Statement {
	query, args := seqList(markWAInboxDoneQuery, nil, seq, nil)
	return Statement{Query: query, Args: args}
}

// MarkFailed gives up on an event for good, and with it on the events in also, keeping handlingErr
// as their last error, in one statement.
func (q *WhatsAppInboxQuery) MarkFailed(ctx context.Context, seq int64, handlingErr error, also ...int64) error {
	if err := q.held.flush(ctx); err != nil {
		return err
	}
	query, args := seqList(markWAInboxFailedQuery, []any{errString(handlingErr)}, seq, also)
	return q.qh.Exec(ctx, query, args...)
}

// seqList completes query, which ends in "seq IN (" and takes the arguments in lead first, with
// one parameter for seq and each of also, and returns it with all its arguments.
func seqList(query string, lead []any, seq int64, also []int64) (string, []any) {
	var b strings.Builder
	b.WriteString(query)
	args := append(lead, seq)
	b.WriteString("$" + strconv.Itoa(len(args)))
	for _, s := range also {
		args = append(args, s)
		b.WriteString(", $" + strconv.Itoa(len(args)))
	}
	b.WriteString(")")
	return b.String(), args
}

// PendingReceivedAt returns every pending event's seq with the time it was stored.
func (q *WhatsAppInboxQuery) PendingReceivedAt(ctx context.Context) (map[int64]time.Time, error) {
	if err := q.held.flush(ctx); err != nil {
		return nil, err
	}
	rows, err := q.qh.GetDB().Query(ctx, pendingWAReceivedAtQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pending := make(map[int64]time.Time)
	for rows.Next() {
		var seq, received int64
		if err = rows.Scan(&seq, &received); err != nil {
			return nil, err
		}
		pending[seq] = fromUnixMilli(received)
	}
	return pending, rows.Err()
}

// RecordAttempt counts one failed handling attempt and stores its error; the event stays pending.
func (q *WhatsAppInboxQuery) RecordAttempt(ctx context.Context, seq int64, attemptErr error) error {
	if err := q.held.flush(ctx); err != nil {
		return err
	}
	return q.qh.Exec(ctx, recordWAInboxAttemptQuery, seq, errString(attemptErr))
}

// Prune removes failed events (and done ones stored by earlier versions) received more than maxAge
// ago and returns how many.
func (q *WhatsAppInboxQuery) Prune(ctx context.Context, maxAge time.Duration) (int64, error) {
	if err := q.held.flush(ctx); err != nil {
		return 0, err
	}
	res, err := q.qh.GetDB().Exec(ctx, pruneWAInboxQuery, time.Now().Add(-maxAge).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to prune WhatsApp inbox: %w", err)
	}
	return res.RowsAffected()
}
