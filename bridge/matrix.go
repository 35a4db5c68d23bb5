package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// isBridgeUser reports whether userID belongs to the bridge itself (the bot or a ghost); events
// from those are echoes of what the bridge sent and must not be bridged back.
func (br *Bridge) isBridgeUser(userID id.UserID) bool {
	if userID == br.BotMXID() {
		return true
	}
	localpart, server, err := userID.Parse()
	if err != nil || server != br.Config.Homeserver.Domain {
		return false
	}
	_, ok := br.Config.ParseUsername(localpart)
	return ok
}

// handleMatrixEvent routes one event from the inbox. A returned error means "retry later".
func (br *Bridge) handleMatrixEvent(ctx context.Context, evt *event.Event) error {
	if br.isBridgeUser(evt.Sender) {
		return nil
	}
	log := zerolog.Ctx(ctx).With().Stringer("sender", evt.Sender).Str("type", evt.Type.Type).Logger()
	ctx = log.WithContext(ctx)
	switch evt.Type {
	case event.StateMember:
		return br.handleMember(ctx, evt)
	case event.EventMessage:
		return br.handleMessage(ctx, evt)
	case event.EventReaction, event.EventRedaction, event.EventSticker,
		event.EventUnstablePollStart, event.EventUnstablePollResponse, event.EventUnstablePollEnd,
		event.StateRoomName, event.StateTopic, event.StatePowerLevels:
		_, err := br.handlePortalEvent(ctx, evt)
		return err
	default:
		log.Trace().Msg("Ignoring event type")
		return nil
	}
}

func (br *Bridge) handleMember(ctx context.Context, evt *event.Event) error {
	content := evt.Content.AsMember()
	target := id.UserID(evt.GetStateKey())
	if br.puppets.IsGhost(target) && target != evt.Sender {
		// In a group's room, inviting or kicking a ghost adds or removes the contact.
		if isPortal, err := br.handlePortalEvent(ctx, evt); isPortal || err != nil {
			return err
		}
	}
	if content.Membership != event.MembershipInvite {
		return nil
	}
	if target == br.BotMXID() {
		return br.handleBotInvite(ctx, evt)
	}
	if br.puppets.IsGhost(target) {
		return br.startDMFromInvite(ctx, evt.Sender, target, evt.RoomID)
	}
	return nil
}

// handleBotInvite answers an invitation of the bot: users allowed to use the bridge get the bot in
// their room (and a private chat becomes their management room); anybody else gets a polite refusal
// and the bot leaves again.
func (br *Bridge) handleBotInvite(ctx context.Context, evt *event.Event) error {
	log := zerolog.Ctx(ctx)
	bot := br.AS.BotIntent()
	if _, err := bot.JoinRoomByID(ctx, evt.RoomID); err != nil {
		if isPermanent(err) {
			log.Warn().Err(err).Msg("Failed to join room the bot was invited to")
			return nil
		}
		return fmt.Errorf("failed to join room: %w", err)
	}
	user, err := br.GetUser(ctx, evt.Sender)
	if err != nil {
		return err
	}
	if user.PermissionLevel() < config.LevelUser {
		log.Info().Msg("Refusing invite from user without permission")
		br.sendBotNoticeTxn(ctx, evt.RoomID, "refuse-"+evt.ID.String(),
			"Sorry, you are not allowed to use this bridge. Ask the bridge's administrator if you think you should be.")
		if _, err = bot.LeaveRoom(ctx, evt.RoomID); err != nil {
			log.Warn().Err(err).Msg("Failed to leave room after refusing invite")
		}
		return nil
	}
	members, err := bot.Members(ctx, evt.RoomID)
	if err != nil {
		return fmt.Errorf("failed to get members of room: %w", err)
	}
	// Invited users count too: a room whose other members have not joined yet is still shared.
	present := 0
	for _, member := range members.Chunk {
		_ = member.Content.ParseRaw(member.Type)
		if m := member.Content.AsMember().Membership; m == event.MembershipJoin || m == event.MembershipInvite {
			present++
		}
	}
	if present > 2 {
		log.Debug().Int("members", present).Msg("Joined a shared room; not making it a management room")
		return nil
	}
	if err = user.SetManagementRoom(ctx, evt.RoomID); err != nil {
		return err
	}
	log.Info().Msg("Management room set")
	br.sendBotNoticeTxn(ctx, evt.RoomID, "welcome-"+evt.ID.String(),
		"Hello, I am the WhatsApp bridge bot. This room is now your management room: send `help` to see what I can do.")
	return nil
}

// handleMessage handles a message from a real Matrix user: commands in the management room (or with
// the command prefix elsewhere). Messages in portal rooms are bridged by the portal.
func (br *Bridge) handleMessage(ctx context.Context, evt *event.Event) error {
	content := evt.Content.AsMessage()
	isText := content.MsgType == event.MsgText || content.MsgType == event.MsgNotice
	text := strings.TrimSpace(content.Body)
	// A prefixed command is a command in any room, portals included; it is never bridged.
	command, isCommand := strings.CutPrefix(text, br.Config.Bridge.CommandPrefix)
	isCommand = isCommand && isText && content.RelatesTo.GetReplaceID() == "" && (command == "" || command[0] == ' ')
	if !isCommand {
		if isPortal, err := br.handlePortalEvent(ctx, evt); isPortal || err != nil {
			return err
		}
		if !isText {
			return nil
		}
	}
	user, err := br.GetUser(ctx, evt.Sender)
	if err != nil {
		return err
	}
	isManagement := user.ManagementRoom() == evt.RoomID
	if isCommand {
		text = strings.TrimSpace(command)
	} else if !isManagement {
		return nil
	}
	br.handleCommand(ctx, &commandEvent{
		br:           br,
		user:         user,
		roomID:       evt.RoomID,
		eventID:      evt.ID,
		isManagement: isManagement,
		text:         text,
	})
	return nil
}

// sendBotNotice sends a markdown notice as the bot.
func (br *Bridge) sendBotNotice(ctx context.Context, roomID id.RoomID, markdown string) {
	br.sendBotNoticeTxn(ctx, roomID, "", markdown)
}

// sendBotNoticeTxn sends a markdown notice as the bot with a transaction ID, so that handling the same
// event again after a crash does not post the notice twice.
func (br *Bridge) sendBotNoticeTxn(ctx context.Context, roomID id.RoomID, txnID, markdown string) {
	content := format.RenderMarkdown(markdown, true, false)
	content.MsgType = event.MsgNotice
	var extra []mautrix.ReqSendEvent
	if txnID != "" {
		extra = append(extra, mautrix.ReqSendEvent{TransactionID: "mw-" + txnID})
	}
	if _, err := br.AS.BotIntent().SendMessageEvent(ctx, roomID, event.EventMessage, &content, extra...); err != nil {
		zerolog.Ctx(ctx).Err(err).Stringer("room_id", roomID).Msg("Failed to send bot notice")
	}
}

// isPermanent reports whether a Matrix API error will not go away by retrying.
func isPermanent(err error) bool {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		code := httpErr.Response.StatusCode
		return code >= 400 && code < 500 && code != 429
	}
	return false
}
