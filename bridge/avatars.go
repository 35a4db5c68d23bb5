package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// avatarRefreshInterval is how often a contact's picture is checked again when no change
// notification arrived in between.
const avatarRefreshInterval = 24 * time.Hour

// maxAvatarSize bounds profile picture downloads.
const maxAvatarSize = 5 << 20

// pictureSource looks up a WhatsApp user's or group's picture through a login's connection.
type pictureSource struct {
	cli  *whatsmeow.Client
	http *http.Client
}

// avatar returns what puppet.SyncProfile and portals need: nil when the picture is unchanged since
// existingID (or cannot be checked now), puppet.NoAvatar when there is none, else the new picture
// with a way to download it.
func (ps pictureSource) avatar(ctx context.Context, jid types.JID, existingID string) (*puppet.Avatar, error) {
	info, err := ps.cli.GetProfilePictureInfo(ctx, jid, &whatsmeow.GetProfilePictureParams{ExistingID: existingID})
	switch {
	case errors.Is(err, whatsmeow.ErrProfilePictureNotSet), errors.Is(err, whatsmeow.ErrProfilePictureUnauthorized):
		return puppet.NoAvatar, nil
	case err != nil:
		return nil, fmt.Errorf("failed to get picture of %s: %w", jid, err)
	case info == nil:
		return nil, nil
	}
	url := info.URL
	return &puppet.Avatar{ID: info.ID, Fetch: func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := ps.http.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("picture download answered %s", resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, maxAvatarSize))
	}}, nil
}

func (br *Bridge) pictures(user *User) (pictureSource, bool) {
	cli := user.getClient()
	if cli == nil {
		return pictureSource{}, false
	}
	httpClient := br.waMedia
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 2 * time.Minute}
	}
	return pictureSource{cli: cli, http: httpClient}, true
}

// refreshGhostAvatar checks a ghost's picture in the background when it was not checked for a while
// (or force is set, after a change notification), so that message handling never waits for it.
func (br *Bridge) refreshGhostAvatar(user *User, ghost *puppet.Puppet, contact puppet.ContactInfo, force bool) {
	if row := ghost.Snapshot(); row.AvatarID != "" && row.AvatarMXC != "" && !row.AvatarSet && !force {
		// A picture is known (e.g. merged from the contact's LID ghost) but not shown yet.
		contact.Avatar = &puppet.Avatar{ID: row.AvatarID}
		if err := ghost.SyncProfile(user.log.WithContext(br.ctx), contact); err != nil {
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
	src, ok := br.pictures(user)
	if !ok {
		return
	}
	br.spawn(func() {
		ctx := user.log.WithContext(br.ctx)
		avatar, err := src.avatar(ctx, ghost.JID, ghost.AvatarID())
		if err != nil {
			zerolog.Ctx(ctx).Debug().Err(err).Stringer("ghost", ghost.MXID).Msg("Could not check contact picture")
			return
		}
		if avatar == nil {
			// Unchanged: record the check without touching the picture.
			avatar = &puppet.Avatar{ID: ghost.AvatarID()}
		}
		contact.Avatar = avatar
		if err = ghost.SyncProfile(ctx, contact); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("ghost", ghost.MXID).Msg("Failed to sync ghost avatar")
		}
	})
}

// handlePicture follows a picture change of a contact or group.
func (br *Bridge) handlePicture(ctx context.Context, login userLogin, evt *events.Picture) {
	if evt.JID.Server == types.GroupServer {
		if err := br.portals.UpdateGroupAvatar(ctx, login, evt.JID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("chat", evt.JID).Msg("Failed to update group avatar")
		}
		return
	}
	ghost, err := br.puppets.Get(ctx, evt.JID, login.LIDs())
	if err != nil {
		return
	}
	br.refreshGhostAvatar(login.user, ghost, br.contactInfo(ctx, login, ghost), true)
}

// Avatar implements portal.Login: it looks up a user's or group's picture.
func (l userLogin) Avatar(ctx context.Context, jid types.JID, existingID string) (*puppet.Avatar, error) {
	src, ok := l.user.br.pictures(l.user)
	if !ok {
		return nil, nil
	}
	return src.avatar(ctx, jid, existingID)
}
