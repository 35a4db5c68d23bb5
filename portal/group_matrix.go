package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	goimage "image"
	_ "image/gif" // room avatars may be GIFs
	"image/jpeg"
	_ "image/png" // or PNGs

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
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
	case event.StateRoomAvatar:
		what = "picture"
		url := evt.Content.AsRoomAvatar().URL
		if url == p.row.AvatarMXC {
			return nil
		}
		var pictureID string
		if pictureID, err = p.setGroupPhoto(ctx, cli, url); err == nil {
			if pictureID == "remove" {
				pictureID = ""
			}
			p.row.AvatarID, p.row.AvatarMXC, p.row.AvatarSet = pictureID, url, true
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

// setGroupPhoto sets the group's picture to the file at url (removes it when url is empty) and
// returns WhatsApp's new picture ID. A file that cannot be downloaded from the homeserver is a
// PermanentError.
func (p *Portal) setGroupPhoto(ctx context.Context, cli WAClient, url id.ContentURIString) (string, error) {
	var data []byte
	if url != "" {
		uri, err := url.Parse()
		if err != nil {
			return "", permanent(fmt.Errorf("the new room avatar has an invalid URL: %w", err))
		}
		if data, err = p.m.matrix.Download(ctx, uri); err != nil {
			return "", fmt.Errorf("failed to download the new room avatar: %w", err)
		} else if len(data) == 0 {
			return "", permanent(errors.New("the new room avatar is an empty file"))
		}
		data = groupPhotoJPEG(ctx, data)
	}
	return cli.SetGroupPhoto(ctx, p.Key.JID, data)
}

// groupPhotoJPEG returns a room avatar as the JPEG WhatsApp takes for group pictures: a PNG or GIF
// (its first frame) is re-encoded, anything else is returned as it is (WhatsApp then refuses what
// is not a JPEG, and the change is reverted with a notice).
func groupPhotoJPEG(ctx context.Context, data []byte) []byte {
	img, format, err := goimage.Decode(bytes.NewReader(data))
	if err != nil || format == "jpeg" {
		return data
	}
	var out bytes.Buffer
	if err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 90}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("format", format).Msg("Failed to convert room avatar to JPEG")
		return data
	}
	return out.Bytes()
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
	switch evt.Type {
	case event.StateRoomName:
		err = p.sendState(ctx, bot, event.StateRoomName, &event.RoomNameEventContent{Name: p.row.Name}, 0)
	case event.StateRoomAvatar:
		err = p.sendState(ctx, bot, event.StateRoomAvatar, &event.RoomAvatarEventContent{URL: p.row.AvatarMXC}, 0)
	default:
		err = p.sendState(ctx, bot, event.StateTopic, &event.TopicEventContent{Topic: p.row.Topic}, 0)
	}
	outcome := p.undoOutcome(ctx, err, "so it was changed back here", "the change", stateLevel(evt.Type))
	reason := groupRefusalReason(refusal)
	if evt.Type == event.StateRoomName && errors.Is(refusal, whatsmeow.ErrIQNotAcceptable) {
		reason = fmt.Sprintf("the name is too long: WhatsApp allows %d characters", MaxGroupNameLength)
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
		"The group's %s was not changed on WhatsApp (%s), %s.", what, reason, outcome)}
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
	if target == evt.Sender && target == login.UserMXID() && evt.Content.AsMember().Membership == event.MembershipLeave {
		return p.leaveGroup(ctx, login)
	}
	jid, isGhost := p.m.puppets.ParseMXID(target)
	if !p.IsGroup() || !isGhost || target == evt.Sender {
		return nil
	}
	var action whatsmeow.ParticipantChange
	switch evt.Content.AsMember().Membership {
	case event.MembershipInvite:
		action = whatsmeow.ParticipantChangeAdd
	case event.MembershipLeave, event.MembershipBan:
		action = whatsmeow.ParticipantChangeRemove
	default:
		return nil
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	// The ghost of a number the bridge has never seen exists only as the invite's target: register
	// it first, so that the bot can kick it again should WhatsApp refuse.
	ghost, err := p.m.puppets.Get(ctx, jid, login.LIDs())
	if err != nil {
		return err
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	results, err := cli.UpdateGroupParticipants(ctx, p.Key.JID, []types.JID{jid}, action)
	participantErr := 0 // WhatsApp's answer for this one participant, as opposed to the whole request
	if err == nil && len(results) > 0 && results[0].Error != 0 {
		participantErr = results[0].Error
		err = &whatsmeow.IQError{Code: results[0].Error}
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
	name, refusal := ghostName(ghost), err
	bot := p.m.matrix.BotMXID()
	var body string
	switch {
	case action == whatsmeow.ParticipantChangeAdd && participantErr != 0:
		// Refused for who they are (no account, privacy settings, ...), not for who asked.
		reason := ParticipantRefusal(participantErr)
		err = p.m.matrix.Kick(ctx, bot, p.row.MXID, target, reason)
		body = fmt.Sprintf("%s %s, so they were not added to the group, %s.", name, reason,
			p.undoOutcome(ctx, err, "and the invite was withdrawn here", "the invite", kickLevel))
	case action == whatsmeow.ParticipantChangeAdd:
		err = p.m.matrix.Kick(ctx, bot, p.row.MXID, target, "WhatsApp refused to add them")
		body = fmt.Sprintf("%s was not added to the WhatsApp group (%s), %s.", name, groupRefusalReason(refusal),
			p.undoOutcome(ctx, err, "so the invite was withdrawn here", "the invite", kickLevel))
	default:
		err = p.m.ensureGhostJoined(ctx, p.row.MXID, ghost)
		body = fmt.Sprintf("%s was not removed from the WhatsApp group (%s), %s.", name, groupRefusalReason(refusal),
			p.undoOutcome(ctx, err, "so they were brought back here", "the removal", stateLevel(event.StateMember)))
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: body}
	if _, err = p.m.matrix.SendEvent(ctx, bot, p.row.MXID, event.EventMessage, notice, 0, "mw.revert."+evt.ID.String()); err != nil {
		return fmt.Errorf("failed to send revert notice: %w", err)
	}
	return nil
}

// MaxGroupNameLength is the longest group name (subject) WhatsApp accepts, in characters; it
// answers a longer one with 406 not-acceptable.
const MaxGroupNameLength = 100

// participantNotOnWhatsApp is the per-participant error code WhatsApp answers an add (or a
// group's creation) with for a number that has no WhatsApp account.
const participantNotOnWhatsApp = 404

// ghostName names a ghost in a notice: its display name, or its number when the bridge has never
// seen the contact (e.g. a ghost invited by typing its user ID).
func ghostName(ghost *puppet.Puppet) string {
	if name := ghost.DisplayName(); name != "" {
		return name
	}
	if phone := ghost.Phone(); !phone.IsEmpty() {
		return "+" + phone.User
	}
	return ghost.MXID.String()
}

// ParticipantRefusal says in a few words why WhatsApp did not add a participant to a group, from
// the per-participant error code of a create or add answer (whatsmeow's GroupParticipant.Error):
// 404 no account, 403 their privacy settings (WhatsApp sends them an invite instead), 408 they
// left the group recently, 409 already a member.
func ParticipantRefusal(code int) string {
	switch code {
	case participantNotOnWhatsApp:
		return "is not on WhatsApp"
	case 403:
		return "can only be added to groups by their contacts (their privacy settings); send them the group's invite link instead"
	case 408:
		return "left the group recently"
	case 409:
		return "is already in the group"
	}
	return fmt.Sprintf("was refused by WhatsApp (code %d)", code)
}

// leaveGroup makes login leave the WhatsApp group whose room its user left, when
// bridge.bridge_matrix_leave is on. Leaving a direct chat's room changes nothing on WhatsApp.
func (p *Portal) leaveGroup(ctx context.Context, login Login) error {
	if !p.IsGroup() || !p.m.cfg.Bridge.BridgeMatrixLeaveEnabled() {
		return nil
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	if err := cli.LeaveGroup(ctx, p.Key.JID); err != nil {
		if isWhatsAppRefusal(err) {
			// Not a member any more (WhatsApp answers 403/404): nothing to leave.
			zerolog.Ctx(ctx).Info().Err(err).Msg("WhatsApp refused to leave the group")
			return nil
		}
		return fmt.Errorf("failed to leave the WhatsApp group: %w", err)
	}
	zerolog.Ctx(ctx).Info().Msg("Left the WhatsApp group after leaving its room")
	return nil
}

// groupRefusalReason says why WhatsApp refused a group change, for a notice.
func groupRefusalReason(err error) string {
	var iqErr *whatsmeow.IQError
	if errors.As(err, &iqErr) && (iqErr.Code == 401 || iqErr.Code == 403) {
		return "only the group's admins may do that"
	}
	if errors.Is(err, whatsmeow.ErrInvalidImageFormat) {
		return "WhatsApp takes only JPEG pictures"
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
	err = p.updateAdmins(ctx, login, undoPromote, undoDemote)
	outcome := p.undoOutcome(ctx, err, "so the power levels were changed back here", "the change", stateLevel(event.StatePowerLevels))
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
		"The group's admins were not changed on WhatsApp (%s), %s.", groupRefusalReason(refused), outcome)}
	if _, err = p.m.matrix.SendEvent(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.EventMessage, notice, 0, "mw.revert."+evt.ID.String()); err != nil {
		return fmt.Errorf("failed to send revert notice: %w", err)
	}
	return nil
}
