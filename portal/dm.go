package portal

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// OpenDM returns the room of the direct chat with contact, creating it (with the user invited) when
// there is none yet.
func (m *Manager) OpenDM(ctx context.Context, login Login, contact types.JID) (id.RoomID, error) {
	key, err := m.KeyFor(ctx, login, contact)
	if err != nil {
		return "", err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return "", err
	}
	err = p.run(ctx, &ensureRoomEvent{login: login})
	return p.MXID(), err
}

// AdoptDM makes roomID, a room the user created and invited the contact's ghost to, the DM portal
// with that contact. When a DM portal exists already, the ghost points the user there and leaves.
func (m *Manager) AdoptDM(ctx context.Context, login Login, contact types.JID, roomID id.RoomID) error {
	key, err := m.KeyFor(ctx, login, contact)
	if err != nil {
		return err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	return p.run(ctx, &adoptDMEvent{login: login, roomID: roomID})
}

func (p *Portal) adoptDM(ctx context.Context, login Login, roomID id.RoomID) error {
	mx := p.m.matrix
	ghost, err := p.m.puppets.Get(ctx, p.Key.JID, login.LIDs())
	if err != nil {
		return err
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	if err = mx.Join(ctx, ghost.MXID, roomID); err != nil {
		return fmt.Errorf("ghost failed to accept the invite: %w", err)
	}
	if existing := p.row.MXID; existing != "" && existing != roomID {
		notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf("You already have a chat with me: %s", existing.URI().MatrixToURL())}
		_, _ = mx.SendEvent(ctx, ghost.MXID, roomID, event.EventMessage, notice, 0, "")
		_ = mx.Leave(ctx, ghost.MXID, roomID)
		return nil
	}
	if err = mx.Invite(ctx, ghost.MXID, roomID, mx.BotMXID()); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Ghost failed to invite the bot to the adopted DM")
	} else if err = mx.Join(ctx, mx.BotMXID(), roomID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Bot failed to join the adopted DM")
	}
	if err = p.saveRoom(ctx, roomID, ghost.DisplayName()); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("room_id", roomID).Msg("Adopted room as DM portal")
	return nil
}
