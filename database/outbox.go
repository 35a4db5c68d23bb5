package database

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

// OutboxState is the delivery state of a Matrix -> WhatsApp send.
type OutboxState string

// The states of an outbox row. Rows start pending and end sent or failed.
const (
	OutboxPending OutboxState = "pending"
	OutboxSent    OutboxState = "sent"
	OutboxFailed  OutboxState = "failed"
)

const (
	outboxColumns = `event_id, portal_jid, portal_receiver, wa_id, state, attempts, last_error, created_at, updated_at`

	reserveOutboxQuery = `
		INSERT INTO outbox (` + outboxColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (event_id) DO NOTHING
	`
	getOutboxQuery        = `SELECT ` + outboxColumns + ` FROM outbox WHERE event_id=$1`
	getOutboxByWAIDQuery  = `SELECT ` + outboxColumns + ` FROM outbox WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3`
	getPendingOutboxQuery = `
		SELECT ` + outboxColumns + ` FROM outbox
		WHERE state='pending' AND portal_jid=$1 AND portal_receiver=$2 ORDER BY created_at, event_id
	`
	getPendingOutboxIDsQuery = `SELECT event_id, wa_id FROM outbox WHERE state='pending'`
	markOutboxSentQuery      = `UPDATE outbox SET state='sent', updated_at=$2 WHERE event_id=$1`
	markOutboxFailedQuery    = `UPDATE outbox SET state='failed', last_error=$2, updated_at=$3 WHERE event_id=$1`
	recordOutboxAttemptQuery = `UPDATE outbox SET attempts=attempts+1, last_error=$2, updated_at=$3 WHERE event_id=$1`
	deleteOutboxQuery        = `DELETE FROM outbox WHERE event_id=$1`
	pruneOutboxQuery         = `DELETE FROM outbox WHERE state<>'pending' AND updated_at < $1`
)

// OutgoingMessage is a Matrix event being sent to WhatsApp. Its WhatsApp message ID is chosen and
// stored before the first send attempt, so that every retry, also after a restart, reuses the same
// ID and WhatsApp recognises the repeat.
type OutgoingMessage struct {
	EventID id.EventID
	Portal  PortalKey
	WAID    string
	State   OutboxState
	// Attempts counts failed send attempts recorded with RecordAttempt; LastError is the latest error.
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func newOutgoingMessage() *OutgoingMessage { return &OutgoingMessage{} }

// Scan reads one outbox row.
func (o *OutgoingMessage) Scan(row dbutil.Scannable) (*OutgoingMessage, error) {
	var jid, receiver string
	var created, updated int64
	err := row.Scan(&o.EventID, &jid, &receiver, &o.WAID, &o.State, &o.Attempts, &o.LastError, &created, &updated)
	if err != nil {
		return nil, err
	}
	if o.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = fromUnixMilli(created), fromUnixMilli(updated)
	return o, nil
}

func (o *OutgoingMessage) sqlVariables() []any {
	jid, receiver := o.Portal.sqlArgs()
	return []any{
		string(o.EventID), jid, receiver, o.WAID, string(o.State), o.Attempts, o.LastError,
		unixMilli(o.CreatedAt), unixMilli(o.UpdatedAt),
	}
}

// OutgoingMessageQuery reads and writes the outbox table.
type OutgoingMessageQuery struct {
	qh *dbutil.QueryHelper[*OutgoingMessage]
}

// Reserve stores msg as a new pending send unless its event is already in the outbox, and returns
// the stored row: msg itself when it was new (with State and timestamps filled in), otherwise the
// earlier row, whose WAID the caller must reuse. The portal must already be stored.
func (oq *OutgoingMessageQuery) Reserve(ctx context.Context, msg *OutgoingMessage) (stored *OutgoingMessage, created bool, err error) {
	now := fromUnixMilli(time.Now().UnixMilli())
	fresh := *msg
	fresh.State, fresh.Attempts, fresh.LastError = OutboxPending, 0, ""
	fresh.CreatedAt, fresh.UpdatedAt = now, now
	res, err := oq.qh.GetDB().Exec(ctx, reserveOutboxQuery, fresh.sqlVariables()...)
	if err != nil {
		return nil, false, fmt.Errorf("failed to reserve outbox entry for %s: %w", msg.EventID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, false, fmt.Errorf("failed to reserve outbox entry for %s: %w", msg.EventID, err)
	} else if n == 1 {
		*msg = fresh
		return msg, true, nil
	}
	stored, err = oq.Get(ctx, msg.EventID)
	if err == nil && stored == nil {
		err = fmt.Errorf("outbox entry for %s vanished while reserving it", msg.EventID)
	}
	if err != nil {
		return nil, false, err
	}
	return stored, false, nil
}

// Get returns the outbox row of a Matrix event, or nil if there is none.
func (oq *OutgoingMessageQuery) Get(ctx context.Context, eventID id.EventID) (*OutgoingMessage, error) {
	return oq.qh.QueryOne(ctx, getOutboxQuery, string(eventID))
}

// GetByWAID returns the outbox row that reserved a WhatsApp message ID in a portal, or nil.
func (oq *OutgoingMessageQuery) GetByWAID(ctx context.Context, portal PortalKey, waID string) (*OutgoingMessage, error) {
	jid, receiver := portal.sqlArgs()
	return oq.qh.QueryOne(ctx, getOutboxByWAIDQuery, jid, receiver, waID)
}

// Pending returns a portal's pending sends, oldest first.
func (oq *OutgoingMessageQuery) Pending(ctx context.Context, portal PortalKey) ([]*OutgoingMessage, error) {
	jid, receiver := portal.sqlArgs()
	return oq.qh.QueryMany(ctx, getPendingOutboxQuery, jid, receiver)
}

// PendingIDs returns the reserved WhatsApp message IDs of all pending sends, by Matrix event ID.
func (oq *OutgoingMessageQuery) PendingIDs(ctx context.Context) (map[id.EventID]string, error) {
	rows, err := oq.qh.GetDB().Query(ctx, getPendingOutboxIDsQuery)
	ids := make(map[id.EventID]string)
	err = dbutil.NewRowIterWithError(rows, func(row dbutil.Scannable) (struct{}, error) {
		var eventID, waID string
		err := row.Scan(&eventID, &waID)
		ids[id.EventID(eventID)] = waID
		return struct{}{}, err
	}, err).Iter(func(struct{}) (bool, error) { return true, nil })
	if err != nil {
		return nil, fmt.Errorf("failed to read pending outbox IDs: %w", err)
	}
	return ids, nil
}

// MarkSent records that WhatsApp accepted the message.
func (oq *OutgoingMessageQuery) MarkSent(ctx context.Context, eventID id.EventID) error {
	return oq.qh.Exec(ctx, markOutboxSentQuery, string(eventID), time.Now().UnixMilli())
}

// MarkFailed gives up on the send for good, keeping sendErr as its last error. It does not count an
// attempt; record the failed attempt itself with RecordAttempt.
func (oq *OutgoingMessageQuery) MarkFailed(ctx context.Context, eventID id.EventID, sendErr error) error {
	return oq.qh.Exec(ctx, markOutboxFailedQuery, string(eventID), errString(sendErr), time.Now().UnixMilli())
}

// RecordAttempt counts one failed send attempt and stores its error; the send stays pending.
func (oq *OutgoingMessageQuery) RecordAttempt(ctx context.Context, eventID id.EventID, attemptErr error) error {
	return oq.qh.Exec(ctx, recordOutboxAttemptQuery, string(eventID), errString(attemptErr), time.Now().UnixMilli())
}

// Delete removes the outbox row of a Matrix event; it is not an error if there is none.
func (oq *OutgoingMessageQuery) Delete(ctx context.Context, eventID id.EventID) error {
	return oq.qh.Exec(ctx, deleteOutboxQuery, string(eventID))
}

// Prune removes sent and failed rows last updated more than maxAge ago and returns how many.
func (oq *OutgoingMessageQuery) Prune(ctx context.Context, maxAge time.Duration) (int64, error) {
	res, err := oq.qh.GetDB().Exec(ctx, pruneOutboxQuery, time.Now().Add(-maxAge).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("failed to prune outbox: %w", err)
	}
	return res.RowsAffected()
}
