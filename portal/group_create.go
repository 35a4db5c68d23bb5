package portal

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// A WhatsApp group can be created from Matrix: in a room that is not a portal, with the contacts'
// ghosts invited, the create command makes a group of those contacts named like the room, and the
// room becomes the group's portal (no new room is made).

// ErrAlreadyPortal means a room is already bridged to a WhatsApp chat.
var ErrAlreadyPortal = errors.New("this room is already bridged to a WhatsApp chat")

// adoptGroupEvent makes a room the portal of a group login just created.
type adoptGroupEvent struct {
	login  Login
	roomID id.RoomID
	info   *types.GroupInfo
}

func (*adoptGroupEvent) kind() string { return "adopt group" }

// CreateGroup creates a WhatsApp group named name as userID, with the given contacts, and makes
// roomID its portal. It returns the group's info as WhatsApp created it (participants WhatsApp did
// not add carry an Error code). It fails with ErrAlreadyPortal, ErrNotLoggedIn, ErrNotConnected or
// WhatsApp's refusal (e.g. a name longer than 100 characters: 406 not-acceptable).
func (m *Manager) CreateGroup(ctx context.Context, roomID id.RoomID, userID id.UserID, name string, contacts []types.JID) (*types.GroupInfo, error) {
	if p, err := m.GetByMXID(ctx, roomID); err != nil {
		return nil, err
	} else if p != nil {
		return nil, ErrAlreadyPortal
	}
	login := m.users.LoginByMXID(ctx, userID, database.PortalKey{})
	if login == nil || login.OwnJID().IsEmpty() {
		return nil, ErrNotLoggedIn
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return nil, ErrNotConnected
	}
	info, err := cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: name, Participants: contacts})
	if err != nil {
		return nil, fmt.Errorf("WhatsApp did not create the group: %w", err)
	}
	zerolog.Ctx(ctx).Info().Stringer("group", info.JID).Int("participants", len(info.Participants)).Msg("Created WhatsApp group from Matrix")
	p, err := m.Get(ctx, database.NewPortalKey(info.JID, types.EmptyJID))
	if err != nil {
		return nil, err
	}
	return info, p.run(ctx, &adoptGroupEvent{login: login, roomID: roomID, info: info})
}

// adoptGroup makes roomID the portal of the group described by info: the bridge info is set, the
// members' ghosts join and other bridge users in the group are invited.
func (p *Portal) adoptGroup(ctx context.Context, login Login, roomID id.RoomID, info *types.GroupInfo) error {
	if p.row.MXID != "" {
		return fmt.Errorf("group %s already has room %s", info.JID, p.row.MXID)
	}
	p.row.Name, p.row.NameSet = info.Name, true
	if err := p.saveRoom(ctx, roomID, info.Name); err != nil {
		return err
	}
	bot := p.m.matrix.BotMXID()
	for _, state := range p.bridgeInfoState(info.Name) {
		if _, err := p.m.matrix.SetState(ctx, bot, roomID, state.Type, *state.StateKey, state.Content.Parsed, 0); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set bridge info in the adopted group room")
		}
	}
	p.syncMembers(ctx, p.groupMembers(ctx, login, info))
	zerolog.Ctx(ctx).Info().Stringer("room_id", roomID).Msg("Adopted room as group portal")
	return nil
}
