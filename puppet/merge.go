package puppet

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// recordLID creates the phone puppet pn (when p is nil) and/or records lid on it, in one
// transaction. If lid belonged to a LID-only puppet, that puppet is merged: its row is deleted, and
// a newly created phone puppet starts from its stored name and avatar (marked as not yet applied,
// since the phone ghost is a different Matrix user). If lid was claimed by another phone puppet
// (WhatsApp moved the LID), that claim is dropped.
//
// The caller holds puppetsLock. Every writer of the puppets table either holds it or holds the lock
// of the one puppet it writes, so the rows read here cannot change before the transaction commits.
func (m *Manager) recordLID(ctx context.Context, p *Puppet, pn, lid types.JID) (*Puppet, error) {
	var row database.Puppet
	if p != nil {
		p.lock.Lock()
		defer p.lock.Unlock()
		row = *p.row
	} else {
		row = database.Puppet{JID: pn}
	}
	oldLID, created := row.LID, p == nil
	var owner *database.Puppet // the row currently holding lid, if not pn's own
	var ownerPuppet *Puppet    // its loaded object, if any
	if !lid.IsEmpty() {
		var err error
		if ownerPuppet = m.byLID[lid]; ownerPuppet == nil {
			ownerPuppet = m.byJID[lid]
		}
		if ownerPuppet == nil {
			if owner, err = m.db.Puppet.GetByLID(ctx, lid); err == nil && owner == nil {
				owner, err = m.db.Puppet.GetByJID(ctx, lid)
			}
			if err != nil {
				return nil, fmt.Errorf("failed to look up puppet by lid %s: %w", lid, err)
			} else if owner != nil {
				ownerPuppet = m.byJID[owner.JID]
			}
		}
		if ownerPuppet == p {
			ownerPuppet = nil
		} else if ownerPuppet != nil {
			ownerPuppet.lock.Lock()
			defer ownerPuppet.lock.Unlock()
			ownerRow := *ownerPuppet.row
			owner = &ownerRow
		}
		if owner != nil && owner.JID == pn {
			owner = nil
		}
		row.LID = lid
	}
	mergeLIDOnly := owner != nil && owner.JID == lid
	if mergeLIDOnly && p == nil {
		row.Name, row.NameSource = owner.Name, owner.NameSource
		row.AvatarID, row.AvatarMXC = owner.AvatarID, owner.AvatarMXC
		row.ContactInfoUpdatedAt = owner.ContactInfoUpdatedAt
	}
	err := m.db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		if mergeLIDOnly {
			if err := m.db.Puppet.Delete(ctx, owner.JID); err != nil {
				return fmt.Errorf("failed to delete merged lid puppet: %w", err)
			}
		} else if owner != nil {
			owner.LID = types.EmptyJID
			if err := m.db.Puppet.Upsert(ctx, owner); err != nil {
				return fmt.Errorf("failed to drop stale lid of %s: %w", owner.JID, err)
			}
		}
		return m.db.Puppet.Upsert(ctx, &row)
	})
	if err != nil {
		return nil, fmt.Errorf("failed to store puppet %s: %w", pn, err)
	}

	if ownerPuppet != nil {
		if mergeLIDOnly {
			ownerPuppet.merged = true
			delete(m.byJID, ownerPuppet.JID)
			if ph := ownerPuppet.row.Phone; !ph.IsEmpty() && m.byPhone[ph] == ownerPuppet {
				delete(m.byPhone, ph)
			}
		} else {
			ownerPuppet.row.LID = types.EmptyJID
		}
	}
	if p == nil {
		p = m.adopt(&row)
	} else {
		p.row = &row
		if !oldLID.IsEmpty() && oldLID != lid && m.byLID[oldLID] == p {
			delete(m.byLID, oldLID)
		}
	}
	if !lid.IsEmpty() {
		m.byLID[lid] = p
	}
	log := m.log.With().Stringer("puppet_jid", pn).Stringer("lid", lid).Logger()
	switch {
	case mergeLIDOnly:
		log.Info().Msg("Merged LID-only puppet into phone puppet")
	case owner != nil:
		log.Warn().Stringer("previous_owner", owner.JID).Msg("Moved LID to another phone puppet")
	default:
		log.Debug().Bool("created", created).Msg("Stored puppet")
	}
	return p, nil
}
