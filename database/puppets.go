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
	puppetColumns = `jid, lid, name, name_source, avatar_id, avatar_mxc, name_set, avatar_set,
		contact_info_updated_at, created_at, updated_at, phone`

	getPuppetByJIDQuery   = `SELECT ` + puppetColumns + ` FROM puppets WHERE jid=$1`
	getPuppetByLIDQuery   = `SELECT ` + puppetColumns + ` FROM puppets WHERE lid=$1`
	getPuppetByPhoneQuery = `SELECT ` + puppetColumns + ` FROM puppets WHERE phone=$1`
	getAllPuppetsQuery    = `SELECT ` + puppetColumns + ` FROM puppets ORDER BY jid`
	upsertPuppetQuery     = `
		INSERT INTO puppets (` + puppetColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (jid) DO UPDATE SET
			lid=excluded.lid, name=excluded.name, name_source=excluded.name_source,
			avatar_id=excluded.avatar_id, avatar_mxc=excluded.avatar_mxc,
			name_set=excluded.name_set, avatar_set=excluded.avatar_set,
			contact_info_updated_at=excluded.contact_info_updated_at, updated_at=excluded.updated_at,
			phone=excluded.phone
	`
	deletePuppetQuery = `DELETE FROM puppets WHERE jid=$1`
)

// Puppet is a WhatsApp contact and its Matrix ghost's profile as last set by the bridge.
type Puppet struct {
	// JID is the contact's phone-number JID (user@s.whatsapp.net) when known; for contacts only
	// known by their LID it is the LID JID (user@lid). It never has a device part.
	JID types.JID
	// LID is the contact's hidden-user JID (user@lid), empty when unknown. Unique when set.
	LID types.JID
	// Phone is set only on puppets keyed by LID (JID is a LID): the contact's phone JID once it
	// became known after the puppet was created. Such puppets stay keyed by LID, so that the ghost
	// and DM portal the user already has are kept. Unique when set.
	Phone types.JID
	// Name is the ghost's display name and NameSource says where it came from (for example
	// "contact", "push", "business" or "phone"), so a better source can replace a worse one.
	Name       string
	NameSource string
	// AvatarID is WhatsApp's ID of the current picture ("" = none known), AvatarMXC its upload.
	AvatarID  string
	AvatarMXC id.ContentURIString
	// NameSet and AvatarSet say whether Name and AvatarMXC were successfully applied to the ghost.
	NameSet   bool
	AvatarSet bool
	// ContactInfoUpdatedAt is when the contact's name and picture were last fetched from WhatsApp.
	ContactInfoUpdatedAt time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

func newPuppet() *Puppet { return &Puppet{} }

// Scan reads one puppets row.
func (p *Puppet) Scan(row dbutil.Scannable) (*Puppet, error) {
	var jid string
	var lid, phone sql.NullString
	var infoUpdated, created, updated int64
	err := row.Scan(&jid, &lid, &p.Name, &p.NameSource, &p.AvatarID, &p.AvatarMXC, &p.NameSet, &p.AvatarSet,
		&infoUpdated, &created, &updated, &phone)
	if err != nil {
		return nil, err
	}
	if p.JID, err = types.ParseJID(jid); err != nil {
		return nil, fmt.Errorf("failed to parse puppet jid %q: %w", jid, err)
	}
	if lid.Valid {
		if p.LID, err = types.ParseJID(lid.String); err != nil {
			return nil, fmt.Errorf("failed to parse puppet lid %q: %w", lid.String, err)
		}
	}
	if phone.Valid {
		if p.Phone, err = types.ParseJID(phone.String); err != nil {
			return nil, fmt.Errorf("failed to parse puppet phone %q: %w", phone.String, err)
		}
	}
	p.ContactInfoUpdatedAt = fromUnixMilli(infoUpdated)
	p.CreatedAt, p.UpdatedAt = fromUnixMilli(created), fromUnixMilli(updated)
	return p, nil
}

func (p *Puppet) sqlVariables() []any {
	return []any{
		p.JID.String(), dbutil.StrPtr(p.LID.String()), p.Name, p.NameSource, p.AvatarID, string(p.AvatarMXC),
		p.NameSet, p.AvatarSet, unixMilli(p.ContactInfoUpdatedAt), unixMilli(p.CreatedAt), unixMilli(p.UpdatedAt),
		dbutil.StrPtr(p.Phone.String()),
	}
}

// PuppetQuery reads and writes the puppets table.
type PuppetQuery struct {
	qh *dbutil.QueryHelper[*Puppet]
}

// GetByJID returns the puppet whose key is jid (device part ignored), or nil if there is none.
func (pq *PuppetQuery) GetByJID(ctx context.Context, jid types.JID) (*Puppet, error) {
	return pq.qh.QueryOne(ctx, getPuppetByJIDQuery, jid.ToNonAD().String())
}

// GetByLID returns the puppet whose LID is lid (device part ignored), or nil if there is none.
func (pq *PuppetQuery) GetByLID(ctx context.Context, lid types.JID) (*Puppet, error) {
	return pq.qh.QueryOne(ctx, getPuppetByLIDQuery, lid.ToNonAD().String())
}

// GetByPhone returns the LID-keyed puppet whose later learned phone JID is pn (device part
// ignored), or nil if there is none.
func (pq *PuppetQuery) GetByPhone(ctx context.Context, pn types.JID) (*Puppet, error) {
	return pq.qh.QueryOne(ctx, getPuppetByPhoneQuery, pn.ToNonAD().String())
}

// GetAll returns every puppet, ordered by JID.
func (pq *PuppetQuery) GetAll(ctx context.Context) ([]*Puppet, error) {
	return pq.qh.QueryMany(ctx, getAllPuppetsQuery)
}

// Upsert inserts the puppet or overwrites all its fields except CreatedAt. It sets UpdatedAt (and
// CreatedAt when unset). It fails if another puppet already has the same LID.
func (pq *PuppetQuery) Upsert(ctx context.Context, p *Puppet) error {
	p.JID, p.LID, p.Phone = p.JID.ToNonAD(), p.LID.ToNonAD(), p.Phone.ToNonAD()
	p.UpdatedAt = time.Now()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = p.UpdatedAt
	}
	return pq.qh.Exec(ctx, upsertPuppetQuery, p.sqlVariables()...)
}

// Delete removes the puppet with the given JID; it is not an error if there is none.
func (pq *PuppetQuery) Delete(ctx context.Context, jid types.JID) error {
	return pq.qh.Exec(ctx, deletePuppetQuery, jid.ToNonAD().String())
}
