package database

import (
	"context"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

const (
	messageEditColumns     = `portal_jid, portal_receiver, wa_id, mxid, mx_room, sender_mxid`
	insertMessageEditQuery = `
		INSERT INTO message_edits (` + messageEditColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (mxid) DO NOTHING
	`
	getMessageEditsQuery = `
		SELECT ` + messageEditColumns + ` FROM message_edits WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3
	`
	deleteMessageEditsQuery = `DELETE FROM message_edits WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3`
)

// MessageEdit is one Matrix edit event (m.replace) of a bridged WhatsApp message, kept so that a
// delete of the message also redacts its edits.
type MessageEdit struct {
	Portal PortalKey
	// WAID is the edited WhatsApp message.
	WAID string
	// MXID is the edit event, sent in MXRoom by SenderMXID (a ghost, or the real user for edits
	// made in Matrix).
	MXID       id.EventID
	MXRoom     id.RoomID
	SenderMXID id.UserID
}

func newMessageEdit() *MessageEdit { return &MessageEdit{} }

// Scan reads one message_edits row.
func (e *MessageEdit) Scan(row dbutil.Scannable) (*MessageEdit, error) {
	var jid, receiver string
	if err := row.Scan(&jid, &receiver, &e.WAID, &e.MXID, &e.MXRoom, &e.SenderMXID); err != nil {
		return nil, err
	}
	var err error
	e.Portal, err = parsePortalKey(jid, receiver)
	return e, err
}

// MessageEditQuery reads and writes the message_edits table.
type MessageEditQuery struct {
	qh *dbutil.QueryHelper[*MessageEdit]
}

// Insert records an edit event; recording the same event again is not an error.
func (q *MessageEditQuery) Insert(ctx context.Context, e *MessageEdit) error {
	jid, receiver := e.Portal.sqlArgs()
	return q.qh.Exec(ctx, insertMessageEditQuery, jid, receiver, e.WAID, string(e.MXID), string(e.MXRoom), string(e.SenderMXID))
}

// GetByWAID returns the recorded edit events of a WhatsApp message (an empty slice if none).
func (q *MessageEditQuery) GetByWAID(ctx context.Context, portal PortalKey, waID string) ([]*MessageEdit, error) {
	jid, receiver := portal.sqlArgs()
	return q.qh.QueryMany(ctx, getMessageEditsQuery, jid, receiver, waID)
}

// Delete forgets the edit events of a WhatsApp message; it is not an error if there are none.
func (q *MessageEditQuery) Delete(ctx context.Context, portal PortalKey, waID string) error {
	jid, receiver := portal.sqlArgs()
	return q.qh.Exec(ctx, deleteMessageEditsQuery, jid, receiver, waID)
}
