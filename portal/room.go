package portal

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// Power levels in portal rooms: WhatsApp group admins are moderators.
const (
	powerAdmin     = 50
	powerSuperuser = 100
)

// bridgeInfoStateKey identifies this chat in the m.bridge state event.
func (p *Portal) bridgeInfoStateKey() string {
	return "fi.matrix-whatsapp://whatsapp/" + p.Key.JID.String()
}

func (p *Portal) bridgeInfo(name string) *event.BridgeEventContent {
	bot := p.m.matrix.BotMXID()
	return &event.BridgeEventContent{
		BridgeBot: bot,
		Creator:   bot,
		Protocol: event.BridgeInfoSection{
			ID: "whatsapp", DisplayName: "WhatsApp", ExternalURL: "https://www.whatsapp.com",
		},
		Channel: event.BridgeInfoSection{ID: p.Key.JID.String(), DisplayName: name},
	}
}

// ensureRoom creates the Matrix room of the portal if it does not exist yet, with login's user
// invited. For a group it takes name, topic and members from WhatsApp; for a DM the contact's ghost
// creates the room as a direct chat.
func (p *Portal) ensureRoom(ctx context.Context, login Login) error {
	if p.row.MXID != "" {
		return p.ensureUserInvited(ctx, login)
	}
	create := p.createDMRoom
	if p.IsGroup() {
		create = p.createGroupRoom
	}
	if p.IsStatus() {
		create = p.createStatusRoom // status.go
	}
	if err := create(ctx, login); err != nil {
		return err
	}
	p.m.users.RoomCreated(ctx, login, p.Key.JID, p.row.MXID)
	return nil
}

func (p *Portal) createDMRoom(ctx context.Context, login Login) error {
	ghost, err := p.m.puppets.Get(ctx, p.Key.JID, login.LIDs())
	if err != nil {
		return err
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return fmt.Errorf("failed to register ghost: %w", err)
	}
	bot := p.m.matrix.BotMXID()
	name := ghost.DisplayName()
	state := p.initialState(name)
	roomID, err := p.m.matrix.CreateRoom(ctx, ghost.MXID, &mautrix.ReqCreateRoom{
		Visibility:   "private",
		Preset:       "trusted_private_chat",
		IsDirect:     true,
		Invite:       []id.UserID{login.UserMXID(), bot},
		InitialState: state,
		PowerLevelOverride: &event.PowerLevelsEventContent{
			Users: map[id.UserID]int{ghost.MXID: powerSuperuser, bot: powerSuperuser},
		},
	})
	if err != nil {
		return fmt.Errorf("failed to create DM room: %w", err)
	}
	if err = p.saveRoom(ctx, roomID, name); err != nil {
		return err
	}
	if err = p.m.matrix.Join(ctx, bot, roomID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Bot failed to join DM portal")
	}
	// The ghost's m.direct marks the room as a DM, so clients looking at its side agree.
	if err = p.m.matrix.MarkDirect(ctx, ghost.MXID, login.UserMXID(), roomID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set ghost's m.direct")
	}
	if login.DoublePuppeted() {
		// With double puppeting the user's own m.direct lists the room too.
		if err = p.m.matrix.MarkDirect(ctx, login.UserMXID(), ghost.MXID, roomID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set the user's m.direct")
		}
	}
	zerolog.Ctx(ctx).Info().Stringer("room_id", roomID).Msg("Created DM portal room")
	return nil
}

// initialState is the state a new portal room starts with: the bridge info, and m.room.encryption
// when new portals are created encrypted (encryption.default or encryption.require).
func (p *Portal) initialState(name string) []*event.Event {
	state := p.bridgeInfoState(name)
	if p.m.cfg.Encryption.DefaultOn() {
		state = append(state, &event.Event{Type: event.StateEncryption, StateKey: new(string),
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}})
	}
	return state
}

func (p *Portal) bridgeInfoState(name string) []*event.Event {
	info := p.bridgeInfo(name)
	stateKey := p.bridgeInfoStateKey()
	return []*event.Event{
		{Type: event.StateBridge, StateKey: &stateKey, Content: event.Content{Parsed: info}},
		{Type: event.StateHalfShotBridge, StateKey: &stateKey, Content: event.Content{Parsed: info}},
	}
}

func (p *Portal) createGroupRoom(ctx context.Context, login Login) error {
	cli := login.Client()
	if cli == nil {
		return ErrNotConnected
	}
	var info *types.GroupInfo
	err := RetryRateLimited(ctx, "read the group's info", func() (err error) {
		info, err = cli.GetGroupInfo(ctx, p.Key.JID)
		return err
	})
	if err != nil {
		return fmt.Errorf("failed to get group info: %w", err)
	}
	bot := p.m.matrix.BotMXID()
	levels := &event.PowerLevelsEventContent{
		Users: map[id.UserID]int{bot: powerSuperuser},
		// WhatsApp admins may change the group's info and promote or demote members (as power
		// levels, which the bridge sends to WhatsApp).
		Events: map[string]int{event.StateRoomName.Type: powerAdmin, event.StateTopic.Type: powerAdmin, event.StateRoomAvatar.Type: powerAdmin,
			event.StatePowerLevels.Type: powerAdmin},
	}
	if p.m.cfg.Encryption.Allow {
		// Any member may turn encryption on (it cannot be turned off again).
		levels.Events[event.StateEncryption.Type] = 0
	}
	members := p.groupMembers(ctx, login, info)
	for _, member := range members {
		if member.level > 0 {
			levels.Users[member.mxid] = member.level
		}
	}
	roomID, err := p.m.matrix.CreateRoom(ctx, bot, &mautrix.ReqCreateRoom{
		Visibility:         "private",
		Preset:             "private_chat",
		Name:               info.Name,
		Topic:              info.Topic,
		Invite:             []id.UserID{login.UserMXID()},
		InitialState:       p.initialState(info.Name),
		PowerLevelOverride: levels,
	})
	if err != nil {
		return fmt.Errorf("failed to create group room: %w", err)
	}
	p.row.Name, p.row.Topic, p.row.NameSet, p.row.TopicSet = info.Name, info.Topic, true, true
	if err = p.saveRoom(ctx, roomID, info.Name); err != nil {
		return err
	}
	if info.IsEphemeral && info.DisappearingTimer > 0 {
		timer := time.Duration(info.DisappearingTimer) * time.Second
		if err = p.applyDisappearing(ctx, bot, timer, time.Now().UnixMilli(), "mw.disappear."+roomID.String()); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to show the group's disappearing timer")
		}
	}
	p.syncMembers(ctx, members)
	if err = p.syncAvatar(ctx, login); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set group avatar")
	}
	zerolog.Ctx(ctx).Info().Stringer("room_id", roomID).Int("members", len(members)).Msg("Created group portal room")
	return nil
}

func (p *Portal) saveRoom(ctx context.Context, roomID id.RoomID, name string) error {
	p.row.MXID = roomID
	p.row.Name = name
	p.row.RoomCreatedAt = time.Now()
	if err := p.m.db.Portal.Update(ctx, p.row); err != nil {
		return fmt.Errorf("failed to save portal room %s: %w", roomID, err)
	}
	p.setMXID(roomID)
	return nil
}

// member is one group participant on the Matrix side.
type member struct {
	mxid  id.UserID
	ghost *puppet.Puppet // nil for bridge users (they are invited with their real account)
	level int
}

func (p *Portal) groupMembers(ctx context.Context, login Login, info *types.GroupInfo) []member {
	log := zerolog.Ctx(ctx)
	var out []member
	for _, part := range info.Participants {
		level := 0
		if part.IsSuperAdmin || part.IsAdmin {
			level = powerAdmin
		}
		jid := part.PhoneNumber
		if jid.IsEmpty() {
			jid = part.JID
		}
		if user := p.m.users.LoginByJID(ctx, jid); user != nil {
			// Bridge users take part with their real Matrix account, not a ghost; a user with
			// several accounts in the group is one member, with the highest of their levels.
			if i := slices.IndexFunc(out, func(m member) bool { return m.ghost == nil && m.mxid == user.UserMXID() }); i >= 0 {
				out[i].level = max(out[i].level, level)
				continue
			}
			out = append(out, member{mxid: user.UserMXID(), level: level})
			continue
		}
		ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
		if err != nil {
			log.Warn().Err(err).Stringer("participant", jid).Msg("Failed to get ghost of group participant")
			continue
		}
		out = append(out, member{mxid: ghost.MXID, ghost: ghost, level: level})
	}
	return out
}

// syncMembers joins the ghosts and invites the bridge users of a group.
func (p *Portal) syncMembers(ctx context.Context, members []member) {
	log := zerolog.Ctx(ctx)
	for _, mem := range members {
		if mem.ghost != nil {
			if err := p.m.ensureGhostJoined(ctx, p.row.MXID, mem.ghost); err != nil {
				log.Warn().Err(err).Stringer("ghost", mem.mxid).Msg("Failed to join ghost to portal")
			}
			continue
		}
		if err := p.m.matrix.Invite(ctx, p.m.matrix.BotMXID(), p.row.MXID, mem.mxid); err != nil {
			log.Debug().Err(err).Stringer("user", mem.mxid).Msg("Failed to invite bridge user to portal")
		}
	}
}

// ensureGhostJoined registers a ghost and makes it a member of roomID (the bot invites it first
// when the room needs an invite). It reads nothing of a portal, so receipts may call it from
// outside the portal goroutine.
func (m *Manager) ensureGhostJoined(ctx context.Context, roomID id.RoomID, ghost *puppet.Puppet) error {
	if err := ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	return m.matrix.EnsureJoined(ctx, ghost.MXID, roomID)
}

// ensureUserInvited invites the login's user to an existing room if they are not in it, e.g. the
// second bridge user of a group.
func (p *Portal) ensureUserInvited(ctx context.Context, login Login) error {
	mxid := login.UserMXID()
	if membership := p.m.matrix.Membership(ctx, p.row.MXID, mxid); membership == event.MembershipJoin || membership == event.MembershipInvite {
		return nil
	}
	if err := p.m.matrix.Invite(ctx, p.m.matrix.BotMXID(), p.row.MXID, mxid); err != nil {
		return fmt.Errorf("failed to invite %s: %w", mxid, err)
	}
	return nil
}
