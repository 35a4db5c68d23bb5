package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	messageColumns = `portal_jid, portal_receiver, wa_id, part, sender, sender_mxid, mxid, mx_room, timestamp,
		edit_count, last_edit, is_from_matrix, quote, media, poll_answers, media_expired, expires_at`

	getMessagesByWAIDQuery = `
		SELECT ` + messageColumns + ` FROM messages
		WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3 ORDER BY part
	`
	getMessageByMXIDQuery    = `SELECT ` + messageColumns + ` FROM messages WHERE mxid=$1`
	getFirstMessageInPortalQ = `
		SELECT ` + messageColumns + ` FROM messages
		WHERE portal_jid=$1 AND portal_receiver=$2 ORDER BY timestamp ASC, part ASC LIMIT 1
	`
	getLastMessageInPortalQ = `
		SELECT ` + messageColumns + ` FROM messages
		WHERE portal_jid=$1 AND portal_receiver=$2 ORDER BY timestamp DESC, part DESC LIMIT 1
	`
	messageExistsQuery = `
		SELECT EXISTS(SELECT 1 FROM messages WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3)
	`
	insertMessageQuery = `
		INSERT INTO messages (` + messageColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	`
	updateMessageQuery = `
		UPDATE messages SET sender=$5, sender_mxid=$6, mxid=$7, mx_room=$8, timestamp=$9, edit_count=$10,
			last_edit=$11, is_from_matrix=$12, quote=$13, media=$14,
			poll_answers=$15, media_expired=$16, expires_at=$17
		WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3 AND part=$4
	`
	getExpiredMessagesQuery = `
		SELECT ` + messageColumns + ` FROM messages
		WHERE expires_at > 0 AND expires_at <= $1 AND part=0 ORDER BY expires_at LIMIT $2
	`
	deleteMessageQuery = `DELETE FROM messages WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3`
)

// Message maps one part of a WhatsApp message to the Matrix event it was bridged as (or, for
// messages sent from Matrix, the Matrix event to the WhatsApp message it became).
type Message struct {
	Portal PortalKey
	// WAID is WhatsApp's message ID; Part numbers the Matrix events one WhatsApp message became
	// (0 for the first; a captioned album may produce several).
	WAID string
	Part int
	// Sender is the WhatsApp JID of the author (without device part); SenderMXID the Matrix user who
	// appears as the sender (a ghost, or the real user for messages sent from Matrix).
	Sender     types.JID
	SenderMXID id.UserID
	MXID       id.EventID
	MXRoom     id.RoomID
	// Timestamp is when the message was sent, at millisecond precision.
	Timestamp time.Time
	// EditCount counts edits bridged so far; LastEdit is the time of the latest one.
	EditCount    int
	LastEdit     time.Time
	IsFromMatrix bool
	// Quote is what a reply to the message quotes on WhatsApp: a serialized waE2E.Message (see
	// msgconv.QuoteContent), nil when unknown. It is kept on part 0.
	Quote []byte
	// Media is the Matrix content (JSON) of an attachment part, "" for other parts; a caption edit
	// from WhatsApp sends it again with the new caption.
	Media string
	// PollAnswers are the Matrix answer IDs of a poll's options, in the order of the WhatsApp
	// poll's options; nil for messages that are not polls.
	PollAnswers []string
	// MediaExpired marks the notice shown for an attachment WhatsApp's servers no longer had when
	// the message was bridged; the phone may be asked to upload it again (part 0's Quote holds the
	// attachment with its media key).
	MediaExpired bool
	// ExpiresAt is when the message disappears from WhatsApp (a chat with disappearing messages),
	// and its Matrix copy is redacted; zero for messages that do not disappear.
	ExpiresAt time.Time
}

func newMessage() *Message { return &Message{} }

// Scan reads one messages row.
func (m *Message) Scan(row dbutil.Scannable) (*Message, error) {
	var jid, receiver string
	var ts, lastEdit int64
	var pollAnswers string
	var expiresAt int64
	err := row.Scan(&jid, &receiver, &m.WAID, &m.Part, &m.Sender, &m.SenderMXID, &m.MXID, &m.MXRoom, &ts,
		&m.EditCount, &lastEdit, &m.IsFromMatrix, &m.Quote, &m.Media, &pollAnswers, &m.MediaExpired, &expiresAt)
	if err != nil {
		return nil, err
	}
	if pollAnswers != "" {
		if err = json.Unmarshal([]byte(pollAnswers), &m.PollAnswers); err != nil {
			return nil, fmt.Errorf("failed to parse poll answers of message %s: %w", m.WAID, err)
		}
	}
	if m.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	m.Timestamp, m.LastEdit, m.ExpiresAt = fromUnixMilli(ts), fromUnixMilli(lastEdit), fromUnixMilli(expiresAt)
	return m, nil
}

func (m *Message) sqlVariables() []any {
	jid, receiver := m.Portal.sqlArgs()
	return []any{
		jid, receiver, m.WAID, m.Part, m.Sender.ToNonAD().String(), string(m.SenderMXID), string(m.MXID),
		string(m.MXRoom), unixMilli(m.Timestamp), m.EditCount, unixMilli(m.LastEdit), m.IsFromMatrix,
		m.Quote, m.Media, pollAnswersJSON(m.PollAnswers), m.MediaExpired, unixMilli(m.ExpiresAt),
	}
}

// pollAnswersJSON is the stored form of PollAnswers: a JSON array, or "" for none.
func pollAnswersJSON(answers []string) string {
	if len(answers) == 0 {
		return ""
	}
	data, _ := json.Marshal(answers) // a string slice always marshals
	return string(data)
}

// MessageQuery reads and writes the messages table.
type MessageQuery struct {
	qh *dbutil.QueryHelper[*Message]
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// GetByWAID returns all parts of a WhatsApp message in part order (an empty slice if unknown).
func (mq *MessageQuery) GetByWAID(ctx context.Context, portal PortalKey, waID string) ([]*Message, error) {
	if err := mq.held.flush(ctx); err != nil {
		return nil, err
	}
	jid, receiver := portal.sqlArgs()
	return mq.qh.QueryMany(ctx, getMessagesByWAIDQuery, jid, receiver, waID)
}

// GetByMXID returns the message part bridged as the given Matrix event, or nil if there is none.
func (mq *MessageQuery) GetByMXID(ctx context.Context, mxid id.EventID) (*Message, error) {
	if err := mq.held.flush(ctx); err != nil {
		return nil, err
	}
	return mq.qh.QueryOne(ctx, getMessageByMXIDQuery, string(mxid))
}

// GetLastInPortal returns the newest message part of a portal by timestamp, or nil if it has none.
func (mq *MessageQuery) GetLastInPortal(ctx context.Context, portal PortalKey) (*Message, error) {
	if err := mq.held.flush(ctx); err != nil {
		return nil, err
	}
	jid, receiver := portal.sqlArgs()
	return mq.qh.QueryOne(ctx, getLastMessageInPortalQ, jid, receiver)
}

// GetFirstInPortal returns the oldest message part of a portal by timestamp, or nil if it has none.
func (mq *MessageQuery) GetFirstInPortal(ctx context.Context, portal PortalKey) (*Message, error) {
	if err := mq.held.flush(ctx); err != nil {
		return nil, err
	}
	jid, receiver := portal.sqlArgs()
	return mq.qh.QueryOne(ctx, getFirstMessageInPortalQ, jid, receiver)
}

// Exists reports whether any part of the WhatsApp message is already stored, the check that drops
// re-delivered messages.
func (mq *MessageQuery) Exists(ctx context.Context, portal PortalKey, waID string) (exists bool, err error) {
	if err := mq.held.flush(ctx); err != nil {
		return false, err
	}
	jid, receiver := portal.sqlArgs()
	err = mq.qh.GetDB().QueryRow(ctx, messageExistsQuery, jid, receiver, waID).Scan(&exists)
	return exists, err
}

// GetExpired returns up to limit messages (their part 0) whose ExpiresAt is at or before now,
// earliest first.
func (mq *MessageQuery) GetExpired(ctx context.Context, now time.Time, limit int) ([]*Message, error) {
	if err := mq.held.flush(ctx); err != nil {
		return nil, err
	}
	return mq.qh.QueryMany(ctx, getExpiredMessagesQuery, now.UnixMilli(), limit)
}

// Insert stores a message part. The portal must already be stored; the (portal, WAID, Part) key and
// MXID must be new.
func (mq *MessageQuery) Insert(ctx context.Context, m *Message) error {
	if err := mq.held.flush(ctx); err != nil {
		return err
	}
	return mq.qh.Exec(ctx, insertMessageQuery, m.sqlVariables()...)
}

// InsertWith stores a message part as Insert does and runs also (an INSERT, UPDATE or DELETE, such
// as an inbox's MarkDoneStatement) atomically with it: on PostgreSQL in the same statement, on
// SQLite in one transaction. Either both happen or neither.
func (mq *MessageQuery) InsertWith(ctx context.Context, m *Message, also Statement) error {
	if err := mq.held.flush(ctx); err != nil {
		return err
	}
	return execWith(ctx, mq.qh.GetDB(), insertMessageQuery, m.sqlVariables(), also)
}

// Update writes all non-key fields of a stored message part (for example after an edit).
func (mq *MessageQuery) Update(ctx context.Context, m *Message) error {
	if err := mq.held.flush(ctx); err != nil {
		return err
	}
	return mq.qh.Exec(ctx, updateMessageQuery, m.sqlVariables()...)
}

// Delete removes all parts of a WhatsApp message; it is not an error if there are none.
func (mq *MessageQuery) Delete(ctx context.Context, portal PortalKey, waID string) error {
	if err := mq.held.flush(ctx); err != nil {
		return err
	}
	jid, receiver := portal.sqlArgs()
	return mq.qh.Exec(ctx, deleteMessageQuery, jid, receiver, waID)
}
