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
	portalColumns = `jid, receiver, mxid, name, topic, avatar_id, avatar_mxc, name_set, topic_set, avatar_set,
		encrypted, created_at, room_created_at, disappear_timer, relay_mxid`

	getPortalByKeyQuery         = `SELECT ` + portalColumns + ` FROM portals WHERE jid=$1 AND receiver=$2`
	getPortalByMXIDQuery        = `SELECT ` + portalColumns + ` FROM portals WHERE mxid=$1`
	getAllPortalsForReceiverQry = `SELECT ` + portalColumns + ` FROM portals WHERE receiver=$1 ORDER BY jid`
	getAllPortalsQuery          = `SELECT ` + portalColumns + ` FROM portals ORDER BY jid, receiver`
	insertPortalQuery           = `
		INSERT INTO portals (` + portalColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	`
	updatePortalQuery = `
		UPDATE portals SET mxid=$3, name=$4, topic=$5, avatar_id=$6, avatar_mxc=$7, name_set=$8, topic_set=$9,
			avatar_set=$10, encrypted=$11, created_at=$12, room_created_at=$13, disappear_timer=$14,
			relay_mxid=$15
		WHERE jid=$1 AND receiver=$2
	`
	deletePortalQuery = `DELETE FROM portals WHERE jid=$1 AND receiver=$2`
)

// Portal is a WhatsApp chat and the Matrix room bridged to it.
type Portal struct {
	Key PortalKey
	// MXID is the Matrix room, empty until the room has been created.
	MXID      id.RoomID
	Name      string
	Topic     string
	AvatarID  string
	AvatarMXC id.ContentURIString
	// NameSet, TopicSet and AvatarSet say whether the values were successfully applied to the room.
	NameSet   bool
	TopicSet  bool
	AvatarSet bool
	Encrypted bool
	// CreatedAt is when the portal row was first stored; RoomCreatedAt when the Matrix room was made.
	CreatedAt     time.Time
	RoomCreatedAt time.Time
	// DisappearTimer is the chat's disappearing-messages timer, whole seconds; 0 when off.
	DisappearTimer time.Duration
	// RelayUser is the bridge user whose WhatsApp account relays the messages of Matrix users
	// without a login in this portal; empty when relaying is off.
	RelayUser id.UserID
}

func newPortal() *Portal { return &Portal{} }

// Scan reads one portals row.
func (p *Portal) Scan(row dbutil.Scannable) (*Portal, error) {
	var jid, receiver string
	var mxid, relay sql.NullString
	var created, roomCreated, disappear int64
	err := row.Scan(&jid, &receiver, &mxid, &p.Name, &p.Topic, &p.AvatarID, &p.AvatarMXC,
		&p.NameSet, &p.TopicSet, &p.AvatarSet, &p.Encrypted, &created, &roomCreated, &disappear, &relay)
	if err != nil {
		return nil, err
	}
	if p.Key, err = parsePortalKey(jid, receiver); err != nil {
		return nil, err
	}
	p.MXID = id.RoomID(mxid.String)
	p.RelayUser = id.UserID(relay.String)
	p.CreatedAt, p.RoomCreatedAt = fromUnixMilli(created), fromUnixMilli(roomCreated)
	p.DisappearTimer = time.Duration(disappear) * time.Second
	return p, nil
}

func (p *Portal) sqlVariables() []any {
	jid, receiver := p.Key.sqlArgs()
	return []any{
		jid, receiver, dbutil.StrPtr(p.MXID), p.Name, p.Topic, p.AvatarID, string(p.AvatarMXC),
		p.NameSet, p.TopicSet, p.AvatarSet, p.Encrypted, unixMilli(p.CreatedAt), unixMilli(p.RoomCreatedAt),
		int64(p.DisappearTimer / time.Second), dbutil.StrPtr(p.RelayUser),
	}
}

// parsePortalKey rebuilds a key from its two stored columns.
func parsePortalKey(jid, receiver string) (key PortalKey, err error) {
	if key.JID, err = types.ParseJID(jid); err != nil {
		return key, fmt.Errorf("failed to parse portal jid %q: %w", jid, err)
	}
	if key.Receiver, err = types.ParseJID(receiver); err != nil {
		return key, fmt.Errorf("failed to parse portal receiver %q: %w", receiver, err)
	}
	return key, nil
}

// PortalQuery reads and writes the portals table.
type PortalQuery struct {
	qh *dbutil.QueryHelper[*Portal]
	// held: message map rows held for a later statement, written before this table is read
	// (held.go).
	held *heldWrites
}

// GetByKey returns the portal with the given key, or nil if there is none.
func (pq *PortalQuery) GetByKey(ctx context.Context, key PortalKey) (*Portal, error) {
	jid, receiver := key.sqlArgs()
	return pq.qh.QueryOne(ctx, getPortalByKeyQuery, jid, receiver)
}

// GetByMXID returns the portal bridged to the given Matrix room, or nil if there is none.
func (pq *PortalQuery) GetByMXID(ctx context.Context, mxid id.RoomID) (*Portal, error) {
	return pq.qh.QueryOne(ctx, getPortalByMXIDQuery, string(mxid))
}

// GetAllForReceiver returns the portals private to one bridge user (its one-to-one chats and the
// like), ordered by chat JID. receiver is the user's WhatsApp JID; its device part is ignored.
func (pq *PortalQuery) GetAllForReceiver(ctx context.Context, receiver types.JID) ([]*Portal, error) {
	return pq.qh.QueryMany(ctx, getAllPortalsForReceiverQry, receiver.ToNonAD().String())
}

// GetAll returns every portal, ordered by key.
func (pq *PortalQuery) GetAll(ctx context.Context) ([]*Portal, error) {
	return pq.qh.QueryMany(ctx, getAllPortalsQuery)
}

// Insert stores a new portal, setting CreatedAt when unset. It fails if the key or the room is taken.
func (pq *PortalQuery) Insert(ctx context.Context, p *Portal) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	return pq.qh.Exec(ctx, insertPortalQuery, p.sqlVariables()...)
}

// Update writes all fields of an existing portal (found by key).
func (pq *PortalQuery) Update(ctx context.Context, p *Portal) error {
	return pq.qh.Exec(ctx, updatePortalQuery, p.sqlVariables()...)
}

// Delete removes the portal together with its messages, reactions and outbox entries.
func (pq *PortalQuery) Delete(ctx context.Context, key PortalKey) error {
	if err := pq.held.flush(ctx); err != nil {
		return err
	}
	jid, receiver := key.sqlArgs()
	return pq.qh.Exec(ctx, deletePortalQuery, jid, receiver)
}
