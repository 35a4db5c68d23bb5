package portal

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A group's name and topic changed in Matrix by a bridge user are changed on WhatsApp as that user.
// WhatsApp decides who may (in a group whose info is locked, only admins); a refused change is put
// back in the room by the bot, with a notice saying why. Direct chats have no name or topic on
// WhatsApp: changes there stay in Matrix. Inviting a contact's ghost adds the contact to the group,
// kicking it removes them (see handleMatrixMember).

// handleMatrixGroupInfo sends a room name or topic change to WhatsApp.
func (p *Portal) handleMatrixGroupInfo(ctx context.Context, login Login, evt *event.Event) error {
	if !p.IsGroup() {
		return nil
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	var err error
	what := "name"
	switch evt.Type {
	case event.StateRoomName:
		name := evt.Content.AsRoomName().Name
		if name == p.row.Name {
			return nil
		}
		if err = cli.SetGroupName(ctx, p.Key.JID, name); err == nil {
			p.row.Name, p.row.NameSet = name, true
		}
	case event.StateTopic:
		what = "description"
		topic := evt.Content.AsTopic().Topic
		if topic == p.row.Topic {
			return nil
		}
		if err = p.setGroupTopic(ctx, cli, topic); err == nil {
			p.row.Topic, p.row.TopicSet = topic, true
		}
	}
	if err == nil {
		zerolog.Ctx(ctx).Info().Str("what", what).Msg("Changed group info on WhatsApp")
		return p.m.db.Portal.Update(ctx, p.row)
	}
	if !isWhatsAppRefusal(err) {
		return fmt.Errorf("failed to change the group's %s: %w", what, err)
	}
	zerolog.Ctx(ctx).Info().Err(err).Str("what", what).Msg("WhatsApp refused group info change, reverting it")
	return p.revertGroupInfo(ctx, evt, what, err)
}

// setGroupTopic sets the group's description, naming the current one as WhatsApp requires.
func (p *Portal) setGroupTopic(ctx context.Context, cli WAClient, topic string) error {
	info, err := cli.GetGroupInfo(ctx, p.Key.JID)
	if err != nil {
		return err
	}
	return cli.SetGroupTopic(ctx, p.Key.JID, info.TopicID, "", topic)
}

// isWhatsAppRefusal reports whether WhatsApp answered a group change with a refusal (as opposed to
// a connection failure worth retrying).
func isWhatsAppRefusal(err error) bool {
	var iqErr *whatsmeow.IQError
	return errors.As(err, &iqErr) && iqErr.Code >= 400 && iqErr.Code < 500 && iqErr.Code != 429
}

// revertGroupInfo puts the room's name or topic back to WhatsApp's and says why.
func (p *Portal) revertGroupInfo(ctx context.Context, evt *event.Event, what string, refusal error) error {
	bot := p.m.matrix.BotMXID()
	var err error
	if evt.Type == event.StateRoomName {
		err = p.sendState(ctx, bot, event.StateRoomName, &event.RoomNameEventContent{Name: p.row.Name}, 0)
	} else {
		err = p.sendState(ctx, bot, event.StateTopic, &event.TopicEventContent{Topic: p.row.Topic}, 0)
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to revert refused group info change")
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
		"The group's %s was not changed on WhatsApp (%s), so it was changed back here.", what, groupRefusalReason(refusal))}
	if _, err = p.m.matrix.SendEvent(ctx, bot, p.row.MXID, event.EventMessage, notice, 0, "mw.revert."+evt.ID.String()); err != nil {
		return fmt.Errorf("failed to send revert notice: %w", err)
	}
	return nil
}

// handleMatrixMember sends an invite of a ghost (add the contact) or a kick of one (remove them) in a
// group's room to WhatsApp. A refused change is undone in the room (the invited ghost is kicked, the
// kicked ghost joins again), with a notice saying why. Other membership changes stay in Matrix.
func (p *Portal) handleMatrixMember(ctx context.Context, login Login, evt *event.Event) error {
	target := id.UserID(evt.GetStateKey())
	jid, isGhost := p.m.puppets.ParseMXID(target)
	if !p.IsGroup() || !isGhost || target == evt.Sender {
		return nil
	}
	var action whatsmeow.ParticipantChange
	what := "added to"
	switch evt.Content.AsMember().Membership {
	case event.MembershipInvite:
		action = whatsmeow.ParticipantChangeAdd
	case event.MembershipLeave, event.MembershipBan:
		action, what = whatsmeow.ParticipantChangeRemove, "removed from"
	default:
		return nil
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	results, err := cli.UpdateGroupParticipants(ctx, p.Key.JID, []types.JID{jid}, action)
	if err == nil && len(results) > 0 && results[0].Error != 0 {
		err = &whatsmeow.IQError{Code: results[0].Error}
	}
	ghost, ghostErr := p.m.puppets.Get(ctx, jid, login.LIDs())
	if ghostErr != nil {
		return ghostErr
	}
	switch {
	case err == nil && action == whatsmeow.ParticipantChangeAdd:
		zerolog.Ctx(ctx).Info().Stringer("ghost", target).Msg("Added contact to the WhatsApp group")
		return p.m.ensureGhostJoined(ctx, p.row.MXID, ghost)
	case err == nil:
		zerolog.Ctx(ctx).Info().Stringer("ghost", target).Msg("Removed contact from the WhatsApp group")
		return nil
	case !isWhatsAppRefusal(err):
		return fmt.Errorf("failed to update group members: %w", err)
	}
	zerolog.Ctx(ctx).Info().Err(err).Stringer("ghost", target).Msg("WhatsApp refused membership change, undoing it")
	reason := groupRefusalReason(err)
	bot := p.m.matrix.BotMXID()
	if action == whatsmeow.ParticipantChangeAdd {
		err = p.m.matrix.Kick(ctx, bot, p.row.MXID, target, "WhatsApp refused to add them")
	} else {
		err = p.m.ensureGhostJoined(ctx, p.row.MXID, ghost)
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to undo refused membership change")
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
		"%s was not %s the WhatsApp group (%s), so the change was undone here.", ghost.DisplayName(), what, reason)}
	if _, err = p.m.matrix.SendEvent(ctx, bot, p.row.MXID, event.EventMessage, notice, 0, "mw.revert."+evt.ID.String()); err != nil {
		return fmt.Errorf("failed to send revert notice: %w", err)
	}
	return nil
}

// groupRefusalReason says why WhatsApp refused a group change, for a notice.
func groupRefusalReason(err error) string {
	var iqErr *whatsmeow.IQError
	if errors.As(err, &iqErr) && (iqErr.Code == 401 || iqErr.Code == 403) {
		return "only the group's admins may do that"
	}
	return "WhatsApp refused it"
}

// handleMatrixPowerLevels promotes to WhatsApp admin each contact whose ghost was given at least
// moderator power (50) in a group's room, and demotes each admin whose ghost was put below it,
// comparing with the group's admins on WhatsApp. Refused changes are undone: the bot sets the
// ghosts' power back to what WhatsApp says, with a notice.
func (p *Portal) handleMatrixPowerLevels(ctx context.Context, login Login, evt *event.Event) error {
	if !p.IsGroup() {
		return nil
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	info, err := cli.GetGroupInfo(ctx, p.Key.JID)
	if err != nil {
		return fmt.Errorf("failed to get group info: %w", err)
	}
	levels := evt.Content.AsPowerLevels()
	var promote, demote []types.JID
	for _, member := range info.Participants {
		jid := member.PhoneNumber
		if jid.IsEmpty() {
			jid = member.JID
		}
		if p.m.users.LoginByJID(ctx, jid) != nil {
			continue // bridge users' levels follow WhatsApp, not the other way round
		}
		ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
		if err != nil {
			continue
		}
		isAdmin := member.IsAdmin || member.IsSuperAdmin
		wantAdmin := levels.GetUserLevel(ghost.MXID) >= powerAdmin
		switch {
		case wantAdmin && !isAdmin:
			promote = append(promote, member.JID)
		case !wantAdmin && isAdmin:
			demote = append(demote, member.JID)
		}
	}
	var refused error
	var undoPromote, undoDemote []types.JID
	for _, change := range []struct {
		action whatsmeow.ParticipantChange
		jids   []types.JID
	}{{whatsmeow.ParticipantChangePromote, promote}, {whatsmeow.ParticipantChangeDemote, demote}} {
		if len(change.jids) == 0 {
			continue
		}
		results, err := cli.UpdateGroupParticipants(ctx, p.Key.JID, change.jids, change.action)
		if err != nil && !isWhatsAppRefusal(err) {
			return fmt.Errorf("failed to %s group members: %w", change.action, err)
		}
		for i, jid := range change.jids {
			failed := err != nil || (i < len(results) && results[i].Error != 0)
			if !failed {
				continue
			}
			if refused = err; refused == nil {
				refused = &whatsmeow.IQError{Code: results[i].Error}
			}
			if change.action == whatsmeow.ParticipantChangePromote {
				undoDemote = append(undoDemote, jid) // back to a member's level
			} else {
				undoPromote = append(undoPromote, jid)
			}
		}
	}
	if refused == nil {
		zerolog.Ctx(ctx).Info().Int("promoted", len(promote)).Int("demoted", len(demote)).Msg("Changed group admins on WhatsApp")
		return nil
	}
	zerolog.Ctx(ctx).Info().Err(refused).Msg("WhatsApp refused admin change, undoing it")
	if err = p.updateAdmins(ctx, login, undoPromote, undoDemote); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to undo refused admin change")
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
		"The group's admins were not changed on WhatsApp (%s), so the power levels were changed back here.", groupRefusalReason(refused))}
	if _, err = p.m.matrix.SendEvent(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.EventMessage, notice, 0, "mw.revert."+evt.ID.String()); err != nil {
		return fmt.Errorf("failed to send revert notice: %w", err)
	}
	return nil
}
