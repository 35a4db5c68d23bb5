package portal

import (
	"context"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// UpdateGroupAvatar follows a change of a group's picture.
func (m *Manager) UpdateGroupAvatar(ctx context.Context, login Login, chat types.JID) error {
	p, err := m.existingPortal(ctx, login, chat)
	if err != nil || p == nil {
		return err
	}
	return p.run(ctx, &avatarEvent{login: login})
}

// syncAvatar sets the room avatar to the WhatsApp group's picture when it changed.
func (p *Portal) syncAvatar(ctx context.Context, login Login) error {
	avatar, err := login.Avatar(ctx, p.Key.JID, p.row.AvatarID)
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Msg("Could not check group picture")
		return nil
	}
	if avatar == nil || (avatar.ID == p.row.AvatarID && p.row.AvatarSet) {
		return nil
	}
	var uri id.ContentURI
	if avatar.ID != "" && avatar.Fetch != nil {
		data, err := avatar.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("failed to download group picture: %w", err)
		}
		if uri, err = p.m.matrix.Upload(ctx, p.m.matrix.BotMXID(), data, http.DetectContentType(data), ""); err != nil {
			return fmt.Errorf("failed to upload group picture: %w", err)
		}
	}
	if _, err = p.m.matrix.SetState(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.StateRoomAvatar, "", &event.RoomAvatarEventContent{URL: uri.CUString()}, 0); err != nil {
		return fmt.Errorf("failed to set room avatar: %w", err)
	}
	p.row.AvatarID, p.row.AvatarMXC, p.row.AvatarSet = avatar.ID, uri.CUString(), true
	return p.m.db.Portal.Update(ctx, p.row)
}
