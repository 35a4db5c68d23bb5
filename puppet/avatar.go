package puppet

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Avatar is a contact's current profile picture as WhatsApp reports it.
type Avatar struct {
	// ID is WhatsApp's ID of the picture; "" means the contact has no picture (or hides it from
	// us), and the ghost's avatar is cleared.
	ID string
	// Fetch downloads the picture. It is called only when ID differs from the picture already
	// uploaded, so it may do network I/O (whatsmeow's GetProfilePictureInfo URL plus an HTTP GET).
	Fetch func(ctx context.Context) ([]byte, error)
}

// NoAvatar says that the contact has no profile picture.
var NoAvatar = &Avatar{}

// errNoFetch is returned when an avatar with an ID comes without a way to download it.
var errNoFetch = errors.New("avatar has an ID but no Fetch function")

// syncAvatar uploads a new picture when its ID changed and points the ghost's avatar at it, or
// clears the avatar when there is no picture. It updates the avatar fields of row, which the
// caller (holding p.syncLock) stores afterwards.
func (p *Puppet) syncAvatar(ctx context.Context, row *database.Puppet, av *Avatar) error {
	if av.ID == row.AvatarID && row.AvatarSet {
		return nil
	}
	if av.ID != "" && (av.ID != row.AvatarID || row.AvatarMXC == "") {
		mxc, err := p.uploadAvatar(ctx, av)
		if err != nil {
			return err
		}
		row.AvatarID, row.AvatarMXC, row.AvatarSet = av.ID, mxc, false
	} else if av.ID == "" {
		row.AvatarID, row.AvatarMXC, row.AvatarSet = "", "", false
	}
	var uri id.ContentURI
	if row.AvatarMXC != "" {
		var err error
		if uri, err = row.AvatarMXC.Parse(); err != nil {
			return fmt.Errorf("stored avatar of %s is not a content URI: %w", p.JID, err)
		}
	}
	if err := p.EnsureRegistered(ctx); err != nil {
		return err
	}
	if err := p.Intent().SetAvatarURL(ctx, uri); err != nil {
		return fmt.Errorf("failed to set avatar of %s: %w", p.MXID, err)
	}
	row.AvatarSet = true
	p.log.Debug().Str("avatar_id", row.AvatarID).Msg("Updated ghost avatar")
	return nil
}

// uploadAvatar downloads the picture from WhatsApp and uploads it to the homeserver as the ghost.
func (p *Puppet) uploadAvatar(ctx context.Context, av *Avatar) (id.ContentURIString, error) {
	if av.Fetch == nil {
		return "", errNoFetch
	}
	data, err := av.Fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("failed to download avatar %s of %s: %w", av.ID, p.JID, err)
	}
	if err = p.EnsureRegistered(ctx); err != nil {
		return "", err
	}
	resp, err := p.Intent().UploadMedia(ctx, mautrix.ReqUploadMedia{
		ContentBytes: data,
		ContentType:  http.DetectContentType(data),
	})
	if err != nil {
		return "", fmt.Errorf("failed to upload avatar of %s: %w", p.JID, err)
	}
	return resp.ContentURI.CUString(), nil
}
