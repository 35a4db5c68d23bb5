package database

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

const (
	putUndecryptableQuery = `
		INSERT INTO matrix_undecryptable (event_id, room_id, session_id, notice_id, received_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (event_id) DO UPDATE SET session_id=excluded.session_id, notice_id=excluded.notice_id
	`
	getUndecryptableNoticeQuery = `SELECT notice_id FROM matrix_undecryptable WHERE event_id=$1`
	deleteUndecryptableQuery    = `DELETE FROM matrix_undecryptable WHERE event_id=$1`
	requeueUndecryptableQuery   = `
		UPDATE matrix_inbox SET state='pending' WHERE state<>'pending' AND event_id IN (
			SELECT event_id FROM matrix_undecryptable WHERE room_id=$1 AND session_id=$2
		)
	`
)

// UndecryptableQuery reads and writes matrix_undecryptable: encrypted Matrix events whose room key
// had not arrived when they were handled.
type UndecryptableQuery struct {
	db *dbutil.Database
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// Put records that eventID in roomID waits for the Megolm session sessionID; noticeID is the
// notice that told the room ("" when none). Recording an event again replaces its session and notice.
func (q *UndecryptableQuery) Put(ctx context.Context, eventID id.EventID, roomID id.RoomID, sessionID id.SessionID, noticeID id.EventID) error {
	_, err := q.db.Exec(ctx, putUndecryptableQuery, eventID, roomID, sessionID, noticeID, time.Now().UnixMilli())
	return err
}

// Resolve forgets eventID and returns the notice that told the room about it: "" when the event was
// never recorded or no notice was sent.
func (q *UndecryptableQuery) Resolve(ctx context.Context, eventID id.EventID) (id.EventID, error) {
	var notice id.EventID
	err := q.db.QueryRow(ctx, getUndecryptableNoticeQuery, eventID).Scan(&notice)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	_, err = q.db.Exec(ctx, deleteUndecryptableQuery, eventID)
	return notice, err
}

// Requeue sets the matrix_inbox rows of the events waiting for sessionID in roomID back to pending
// and returns how many it set.
func (q *UndecryptableQuery) Requeue(ctx context.Context, roomID id.RoomID, sessionID id.SessionID) (int64, error) {
	if err := q.held.flush(ctx); err != nil {
		return 0, err
	}
	res, err := q.db.Exec(ctx, requeueUndecryptableQuery, roomID, sessionID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
