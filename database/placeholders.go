package database

import (
	"context"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	placeholderColumns = `portal_jid, portal_receiver, wa_id, sender, mxid, timestamp`

	getPlaceholderQuery = `
		SELECT ` + placeholderColumns + ` FROM placeholders WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3
	`
	insertPlaceholderQuery = `
		INSERT INTO placeholders (` + placeholderColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (portal_jid, portal_receiver, wa_id) DO NOTHING
	`
	deletePlaceholderQuery = `DELETE FROM placeholders WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3`
)

// Placeholder is the Matrix event standing in for a WhatsApp message that could not be decrypted
// yet. It is deleted when the message arrives (and becomes a Message row with the same MXID).
type Placeholder struct {
	Portal PortalKey
	WAID   string
	// Sender is the author's WhatsApp JID without device part.
	Sender types.JID
	MXID   id.EventID
	// Timestamp is when the message was sent, at millisecond precision.
	Timestamp time.Time
}

func newPlaceholder() *Placeholder { return &Placeholder{} }

// Scan reads one placeholders row.
func (p *Placeholder) Scan(row dbutil.Scannable) (*Placeholder, error) {
	var jid, receiver string
	var ts int64
	if err := row.Scan(&jid, &receiver, &p.WAID, &p.Sender, &p.MXID, &ts); err != nil {
		return nil, err
	}
	var err error
	if p.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	p.Timestamp = fromUnixMilli(ts)
	return p, nil
}

// PlaceholderQuery reads and writes the placeholders table.
type PlaceholderQuery struct {
	qh *dbutil.QueryHelper[*Placeholder]
}

// Get returns the placeholder of a WhatsApp message, or nil if it has none.
func (pq *PlaceholderQuery) Get(ctx context.Context, portal PortalKey, waID string) (*Placeholder, error) {
	jid, receiver := portal.sqlArgs()
	return pq.qh.QueryOne(ctx, getPlaceholderQuery, jid, receiver, waID)
}

// Insert stores a placeholder; a second one for the same message is ignored. The portal must
// already be stored.
func (pq *PlaceholderQuery) Insert(ctx context.Context, p *Placeholder) error {
	jid, receiver := p.Portal.sqlArgs()
	return pq.qh.Exec(ctx, insertPlaceholderQuery, jid, receiver, p.WAID, p.Sender.ToNonAD().String(),
		string(p.MXID), unixMilli(p.Timestamp))
}

// Delete removes the placeholder of a WhatsApp message; it is not an error if there is none.
func (pq *PlaceholderQuery) Delete(ctx context.Context, portal PortalKey, waID string) error {
	jid, receiver := portal.sqlArgs()
	return pq.qh.Exec(ctx, deletePlaceholderQuery, jid, receiver, waID)
}
