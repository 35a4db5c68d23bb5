package database

import (
	"context"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	reactionColumns = `portal_jid, portal_receiver, target_wa_id, sender, mxid, emoji, wa_id, timestamp`

	getReactionQuery = `
		SELECT ` + reactionColumns + ` FROM reactions
		WHERE portal_jid=$1 AND portal_receiver=$2 AND target_wa_id=$3 AND sender=$4
	`
	getReactionByMXIDQuery = `SELECT ` + reactionColumns + ` FROM reactions WHERE mxid=$1`
	upsertReactionQuery    = `
		INSERT INTO reactions (` + reactionColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (portal_jid, portal_receiver, target_wa_id, sender) DO UPDATE SET
			mxid=excluded.mxid, emoji=excluded.emoji, wa_id=excluded.wa_id, timestamp=excluded.timestamp
	`
	deleteReactionQuery = `
		DELETE FROM reactions WHERE portal_jid=$1 AND portal_receiver=$2 AND target_wa_id=$3 AND sender=$4
	`
)

// Reaction is the current reaction of one WhatsApp user to one message (WhatsApp allows one per
// sender and message) and the Matrix annotation event that shows it.
type Reaction struct {
	Portal     PortalKey
	TargetWAID string
	// Sender is the reacting user's WhatsApp JID without device part.
	Sender types.JID
	MXID   id.EventID
	Emoji  string
	// WAID is the ID of the WhatsApp reaction message itself.
	WAID      string
	Timestamp time.Time
}

func newReaction() *Reaction { return &Reaction{} }

// Scan reads one reactions row.
func (r *Reaction) Scan(row dbutil.Scannable) (*Reaction, error) {
	var jid, receiver string
	var ts int64
	err := row.Scan(&jid, &receiver, &r.TargetWAID, &r.Sender, &r.MXID, &r.Emoji, &r.WAID, &ts)
	if err != nil {
		return nil, err
	}
	if r.Portal, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	r.Timestamp = fromUnixMilli(ts)
	return r, nil
}

func (r *Reaction) sqlVariables() []any {
	jid, receiver := r.Portal.sqlArgs()
	return []any{
		jid, receiver, r.TargetWAID, r.Sender.ToNonAD().String(), string(r.MXID), r.Emoji, r.WAID,
		unixMilli(r.Timestamp),
	}
}

// ReactionQuery reads and writes the reactions table.
type ReactionQuery struct {
	qh *dbutil.QueryHelper[*Reaction]
}

// Get returns sender's reaction to the target message, or nil if there is none.
func (rq *ReactionQuery) Get(ctx context.Context, portal PortalKey, targetWAID string, sender types.JID) (*Reaction, error) {
	jid, receiver := portal.sqlArgs()
	return rq.qh.QueryOne(ctx, getReactionQuery, jid, receiver, targetWAID, sender.ToNonAD().String())
}

// GetByMXID returns the reaction shown by the given Matrix event, or nil if there is none.
func (rq *ReactionQuery) GetByMXID(ctx context.Context, mxid id.EventID) (*Reaction, error) {
	return rq.qh.QueryOne(ctx, getReactionByMXIDQuery, string(mxid))
}

// Upsert stores the reaction, replacing the sender's previous reaction to the same message.
func (rq *ReactionQuery) Upsert(ctx context.Context, r *Reaction) error {
	return rq.qh.Exec(ctx, upsertReactionQuery, r.sqlVariables()...)
}

// Delete removes sender's reaction to the target message; it is not an error if there is none.
func (rq *ReactionQuery) Delete(ctx context.Context, portal PortalKey, targetWAID string, sender types.JID) error {
	jid, receiver := portal.sqlArgs()
	return rq.qh.Exec(ctx, deleteReactionQuery, jid, receiver, targetWAID, sender.ToNonAD().String())
}
