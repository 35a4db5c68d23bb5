package database

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	placeholderColumns = `portal_jid, portal_receiver, wa_id, sender, mxid, timestamp, created_at`

	getPlaceholderQuery = `
		SELECT ` + placeholderColumns + ` FROM placeholders WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3
	`
	insertPlaceholderQuery = `
		INSERT INTO placeholders (` + placeholderColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (portal_jid, portal_receiver, wa_id) DO NOTHING
	`
	getPlaceholdersBeforeQuery = `
		SELECT ` + placeholderColumns + ` FROM placeholders WHERE created_at < $1 ORDER BY portal_jid, portal_receiver, timestamp
	`
	deletePlaceholderQuery = `DELETE FROM placeholders WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3`
	// lookUpIncomingQuery answers both questions an incoming WhatsApp message raises in one round
	// trip: is it bridged already, and does a placeholder stand in for it.
	lookUpIncomingQuery = `
		SELECT EXISTS(SELECT 1 FROM messages WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3),
			ph.portal_jid, ph.portal_receiver, ph.wa_id, ph.sender, ph.mxid, ph.timestamp, ph.created_at
		FROM (SELECT 1 AS one) AS one
		LEFT JOIN placeholders AS ph ON ph.portal_jid=$1 AND ph.portal_receiver=$2 AND ph.wa_id=$3
	`
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
	// Created is when the placeholder was posted (set by Insert).
	Created time.Time
}

func newPlaceholder() *Placeholder { return &Placeholder{} }

// Scan reads one placeholders row.
func (p *Placeholder) Scan(row dbutil.Scannable) (*Placeholder, error) {
	var jid, receiver string
	var ts, created int64
	if err := row.Scan(&jid, &receiver, &p.WAID, &p.Sender, &p.MXID, &ts, &created); err != nil {
		return nil, err
	}
	var err error
	if p.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	p.Timestamp, p.Created = fromUnixMilli(ts), fromUnixMilli(created)
	return p, nil
}

// PlaceholderQuery reads and writes the placeholders table.
type PlaceholderQuery struct {
	qh *dbutil.QueryHelper[*Placeholder]
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// Get returns the placeholder of a WhatsApp message, or nil if it has none.
func (pq *PlaceholderQuery) Get(ctx context.Context, portal PortalKey, waID string) (*Placeholder, error) {
	if err := pq.held.flush(ctx); err != nil {
		return nil, err
	}
	jid, receiver := portal.sqlArgs()
	return pq.qh.QueryOne(ctx, getPlaceholderQuery, jid, receiver, waID)
}

// Insert stores a placeholder; a second one for the same message is ignored. The portal must
// already be stored.
func (pq *PlaceholderQuery) Insert(ctx context.Context, p *Placeholder) error {
	if err := pq.held.flush(ctx); err != nil {
		return err
	}
	jid, receiver := p.Portal.sqlArgs()
	return pq.qh.Exec(ctx, insertPlaceholderQuery, jid, receiver, p.WAID, p.Sender.ToNonAD().String(),
		string(p.MXID), unixMilli(p.Timestamp), unixMilli(time.Now()))
}

// Delete removes the placeholder of a WhatsApp message; it is not an error if there is none.
func (pq *PlaceholderQuery) Delete(ctx context.Context, portal PortalKey, waID string) error {
	if err := pq.held.flush(ctx); err != nil {
		return err
	}
	jid, receiver := portal.sqlArgs()
	return pq.qh.Exec(ctx, deletePlaceholderQuery, jid, receiver, waID)
}

// GetBefore returns the placeholders posted before t, by portal and then message time.
func (pq *PlaceholderQuery) GetBefore(ctx context.Context, t time.Time) ([]*Placeholder, error) {
	if err := pq.held.flush(ctx); err != nil {
		return nil, err
	}
	return pq.qh.QueryMany(ctx, getPlaceholdersBeforeQuery, unixMilli(t))
}

// LookUpIncoming reports whether the WhatsApp message waID of portal is bridged already (a
// messages row exists) and returns its placeholder (nil: none), in one query: Message.Exists and
// Get together, for the hot path of every incoming message.
func (pq *PlaceholderQuery) LookUpIncoming(ctx context.Context, portal PortalKey, waID string) (bridged bool, ph *Placeholder, err error) {
	if err := pq.held.flush(ctx); err != nil {
		return false, nil, err
	}
	jid, receiver := portal.sqlArgs()
	return scanIncoming(pq.qh.GetDB().QueryRow(ctx, lookUpIncomingQuery, jid, receiver, waID))
}

// scanIncoming reads the answer of a duplicate check (lookUpIncomingQuery's columns), after the
// columns read into lead.
func scanIncoming(row dbutil.Scannable, lead ...any) (bridged bool, ph *Placeholder, err error) {
	var phJID, phReceiver, phWAID, phSender, phMXID sql.NullString
	var phTS, phCreated sql.NullInt64
	err = row.Scan(append(lead, &bridged, &phJID, &phReceiver, &phWAID, &phSender, &phMXID, &phTS, &phCreated)...)
	if err != nil || !phJID.Valid {
		return bridged, nil, err
	}
	ph = &Placeholder{WAID: phWAID.String, MXID: id.EventID(phMXID.String), Timestamp: fromUnixMilli(phTS.Int64), Created: fromUnixMilli(phCreated.Int64)}
	if ph.Portal, err = parsePortalKey(phJID.String, phReceiver.String); err != nil {
		return bridged, nil, err
	}
	if ph.Sender, err = types.ParseJID(phSender.String); err != nil {
		return bridged, nil, fmt.Errorf("invalid placeholder sender %q: %w", phSender.String, err)
	}
	return bridged, ph, nil
}
