package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// avatarRefreshInterval is how often a contact's picture is checked again when no change
// notification arrived in between.
const avatarRefreshInterval = 24 * time.Hour

// avatarOf turns a WhatsApp picture into what puppet.SyncProfile and portals take: nil stays nil
// (unchanged or unknown), a picture without ID is puppet.NoAvatar.
func avatarOf(pic *whatsapp.Picture) *puppet.Avatar {
	switch {
	case pic == nil:
		return nil
	case pic.ID == "":
		return puppet.NoAvatar
	}
	return &puppet.Avatar{ID: pic.ID, Fetch: pic.Fetch}
}

// refreshGhostAvatar checks a ghost's picture in the background when it was not checked for a while
// (or force is set, after a change notification), so that message handling never waits for it.
func (br *Bridge) refreshGhostAvatar(login userLogin, ghost *puppet.Puppet, force bool) {
	user := login.user
	if row := ghost.Snapshot(); row.AvatarID != "" && row.AvatarMXC != "" && !row.AvatarSet && !force {
		// A picture is known (e.g. merged from the contact's LID ghost) but not shown yet.
		if err := br.syncGhost(user.log.WithContext(br.ctx), login, ghost, &puppet.Avatar{ID: row.AvatarID}); err != nil {
			user.log.Warn().Err(err).Stringer("ghost", ghost.MXID).Msg("Failed to apply known ghost avatar")
		}
		return
	}
	if !force && time.Since(ghost.ContactInfoUpdatedAt()) < avatarRefreshInterval {
		return
	}
	// Remember attempts too, so that a failing lookup is not repeated for every message.
	if last, ok := br.avatarChecked.Load(ghost.JID); ok && !force && time.Since(last.(time.Time)) < avatarRefreshInterval {
		return
	}
	br.avatarChecked.Store(ghost.JID, time.Now())
	if user.wa.Client() == nil {
		return
	}
	br.spawn(func() {
		ctx := user.log.WithContext(br.ctx)
		pic, err := user.wa.Picture(ctx, ghost.JID, ghost.AvatarID())
		avatar := avatarOf(pic)
		if err != nil {
			zerolog.Ctx(ctx).Debug().Err(err).Stringer("ghost", ghost.MXID).Msg("Could not check contact picture")
			return
		}
		if avatar == nil {
			// Unchanged: record the check without touching the picture.
			avatar = &puppet.Avatar{ID: ghost.AvatarID()}
		}
		if err = br.syncGhost(ctx, login, ghost, avatar); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("ghost", ghost.MXID).Msg("Failed to sync ghost avatar")
		}
	})
}

// handlePicture follows a picture change of a contact or group.
func (br *Bridge) handlePicture(ctx context.Context, login userLogin, evt *events.Picture) error {
	if evt.JID.Server == types.GroupServer {
		if err := br.portals.UpdateGroupAvatar(ctx, login, evt.JID); err != nil {
			return fmt.Errorf("failed to update avatar of group %s: %w", evt.JID, err)
		}
		return nil
	}
	// A contact without a ghost yet gets its picture with the ghost; creating one here, from a
	// notification that names only the LID, would key it by LID for good (puppet.Existing).
	ghost, err := br.puppets.Existing(ctx, evt.JID, login.LIDs())
	if err != nil {
		return fmt.Errorf("failed to get ghost of %s: %w", evt.JID, err)
	} else if ghost == nil {
		zerolog.Ctx(ctx).Debug().Stringer("contact", evt.JID).Msg("Ignoring picture change of a contact without a ghost")
		return nil
	}
	br.refreshGhostAvatar(login, ghost, true)
	return nil
}
