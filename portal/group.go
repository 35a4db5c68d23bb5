package portal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// EnsureRoom makes sure the portal of a chat has a Matrix room with login's user in it, e.g. for a
// group the user just joined or for the chats listed right after login.
func (m *Manager) EnsureRoom(ctx context.Context, login Login, chat types.JID) error {
	key, err := m.KeyFor(ctx, login, chat)
	if err != nil {
		return err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	return p.run(ctx, &ensureRoomEvent{login: login})
}

// HandleGroupInfo bridges a change of a WhatsApp group: name, topic, members and admins. Every
// bridge user in the group reports the same change; applying it twice changes nothing.
func (m *Manager) HandleGroupInfo(ctx context.Context, login Login, evt *events.GroupInfo) error {
	key, err := m.KeyFor(ctx, login, evt.JID)
	if err != nil {
		return err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	return p.run(ctx, &groupInfoEvent{login: login, evt: evt})
}

func (p *Portal) applyGroupInfo(ctx context.Context, login Login, evt *events.GroupInfo) error {
	log := zerolog.Ctx(ctx)
	actor := p.m.matrix.BotMXID()
	// remover names who removed members (Leave of someone else): "" when unknown.
	remover := ""
	if evt.Sender != nil {
		if ghost, err := p.m.puppets.Get(ctx, pickPN(*evt.Sender, evt.SenderPN), login.LIDs()); err == nil && p.m.users.LoginByJID(ctx, ghost.JID) == nil {
			if err = p.m.ensureGhostJoined(ctx, p.row.MXID, ghost); err == nil {
				actor = ghost.MXID
			}
			remover = strings.TrimSpace(ghost.DisplayName())
		}
		if remover == "" {
			remover = "+" + pickPN(*evt.Sender, evt.SenderPN).User
		}
	}
	ts := evt.Timestamp.UnixMilli()
	if evt.Name != nil && evt.Name.Name != p.row.Name {
		if err := p.sendState(ctx, actor, event.StateRoomName, &event.RoomNameEventContent{Name: evt.Name.Name}, ts); err != nil {
			return err
		}
		p.row.Name, p.row.NameSet = evt.Name.Name, true
	}
	if evt.Topic != nil && evt.Topic.Topic != p.row.Topic {
		if err := p.sendState(ctx, actor, event.StateTopic, &event.TopicEventContent{Topic: evt.Topic.Topic}, ts); err != nil {
			return err
		}
		p.row.Topic, p.row.TopicSet = evt.Topic.Topic, true
	}
	if err := p.m.db.Portal.Update(ctx, p.row); err != nil {
		return err
	}
	if evt.Ephemeral != nil {
		timer := time.Duration(evt.Ephemeral.DisappearingTimer) * time.Second
		if !evt.Ephemeral.IsEphemeral {
			timer = 0
		}
		txnID := fmt.Sprintf("mw.disappear.%s.%d", p.Key.JID.User, evt.Timestamp.UnixMilli())
		if err := p.applyDisappearing(ctx, actor, timer, ts, txnID); err != nil { // disappearing.go
			return err
		}
	}
	for _, jid := range evt.Join {
		if user := p.m.users.LoginByJID(ctx, jid); user != nil {
			if err := p.ensureUserInvited(ctx, user); err != nil {
				log.Warn().Err(err).Msg("Failed to invite joined bridge user")
			}
			continue
		}
		ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
		if err != nil {
			return err
		}
		if err = p.m.ensureGhostJoined(ctx, p.row.MXID, ghost); err != nil {
			return fmt.Errorf("failed to join new member: %w", err)
		}
	}
	for _, jid := range evt.Leave {
		by := remover
		if evt.Sender != nil && (p.sameAccount(ctx, login, jid, *evt.Sender) ||
			(evt.SenderPN != nil && p.sameAccount(ctx, login, jid, *evt.SenderPN))) {
			by = "" // left on their own
		}
		if err := p.removeMember(ctx, login, jid, by); err != nil {
			return err
		}
	}
	if len(evt.Promote) > 0 || len(evt.Demote) > 0 {
		return p.updateAdmins(ctx, login, evt.Promote, evt.Demote)
	}
	return nil
}

func pickPN(jid types.JID, pn *types.JID) types.JID {
	if pn != nil && !pn.IsEmpty() {
		return *pn
	}
	return jid
}

func (p *Portal) sendState(ctx context.Context, actor id.UserID, evtType event.Type, content any, ts int64) error {
	if _, err := p.m.matrix.SetState(ctx, actor, p.row.MXID, evtType, "", content, ts); err != nil {
		return fmt.Errorf("failed to set %s: %w", evtType.Type, err)
	}
	return nil
}

// removeMember makes a member who is no longer in the WhatsApp group leave the room. by names the
// member who removed them ("" when they left on their own): then the bot kicks them, with a reason
// naming the remover (the bot has the power to kick; a WhatsApp admin's ghost may not). A ghost
// that left leaves; a bridge user is kicked by the bot either way.
func (p *Portal) removeMember(ctx context.Context, login Login, jid types.JID, by string) error {
	reason := "Left the WhatsApp group"
	if by != "" {
		reason = "Removed from the WhatsApp group by " + by
	}
	if user := p.m.users.LoginByJID(ctx, jid); user != nil {
		if err := p.m.matrix.Kick(ctx, p.m.matrix.BotMXID(), p.row.MXID, user.UserMXID(), reason); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to kick bridge user who left the group")
		}
		return nil
	}
	ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
	if err != nil {
		return err
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	if by != "" {
		if err = p.m.matrix.Kick(ctx, p.m.matrix.BotMXID(), p.row.MXID, ghost.MXID, reason); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("ghost", ghost.MXID).Msg("Failed to kick removed ghost")
		}
		return nil
	}
	if err = p.m.matrix.Leave(ctx, ghost.MXID, p.row.MXID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Stringer("ghost", ghost.MXID).Msg("Failed to make ghost leave")
	}
	return nil
}

func (p *Portal) updateAdmins(ctx context.Context, login Login, promote, demote []types.JID) error {
	levels, err := p.m.matrix.PowerLevels(ctx, p.row.MXID)
	if err != nil {
		return fmt.Errorf("failed to get power levels: %w", err)
	}
	set := func(jid types.JID, level int) {
		var mxid id.UserID
		if user := p.m.users.LoginByJID(ctx, jid); user != nil {
			mxid = user.UserMXID()
		} else if ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs()); err == nil {
			mxid = ghost.MXID
		} else {
			return
		}
		levels.SetUserLevel(mxid, level)
	}
	for _, jid := range promote {
		set(jid, powerAdmin)
	}
	for _, jid := range demote {
		set(jid, 0)
	}
	if _, err = p.m.matrix.SetState(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.StatePowerLevels, "", levels, 0); err != nil {
		return fmt.Errorf("failed to set power levels: %w", err)
	}
	return nil
}

// RoomOfChat returns the Matrix room of a chat's portal for login, or "" when the chat has no
// portal room yet. It creates nothing.
func (m *Manager) RoomOfChat(ctx context.Context, login Login, chat types.JID) (id.RoomID, error) {
	key, err := m.KeyFor(ctx, login, chat)
	if err != nil {
		return "", err
	}
	p, err := m.getExisting(ctx, key)
	if err != nil || p == nil {
		return "", err
	}
	return p.MXID(), nil
}
