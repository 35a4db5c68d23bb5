package bridge

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
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
	if evt.Type == event.StateMember {
		// Every membership change counts, the bridge's own (a kick by the bot) too.
		br.noteMemberEvent(evt)
	}
	if br.isBridgeUser(evt.Sender) || portal.IsDoublePuppeted(evt) {
		// The bridge's own events, also those it sent as a user's real account (doublepuppet.go).
		return nil
	}
	log := zerolog.Ctx(ctx).With().Stringer("sender", evt.Sender).Str("type", evt.Type.Type).Logger()
	ctx = log.WithContext(ctx)
	if evt.StateKey != nil && evt.Type.Class != event.StateEventType {
		// A state event with a message event's type (PUT /state/m.room.message/) is room state,
		// not something anyone said.
		log.Debug().Msg("Ignoring state event with a message event type")
		return nil
	}
	switch evt.Type {
	case event.StateMember:
		return br.handleMember(ctx, evt)
	case event.EventMessage:
		return br.handleMessage(ctx, evt)
	case event.EventReaction, event.EventRedaction, event.EventSticker,
		event.EventUnstablePollStart, event.EventUnstablePollResponse, event.EventUnstablePollEnd,
		msgconv.EventPollStart, msgconv.EventPollResponse, msgconv.EventPollEnd,
		event.StateRoomName, event.StateTopic, event.StateRoomAvatar, event.StatePowerLevels:
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
	if target == evt.Sender && content.Membership == event.MembershipLeave && br.LoginByMXID(ctx, target, database.PortalKey{}) != nil {
		// A bridge user leaving a group's room leaves the group (bridge.bridge_matrix_leave).
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
		if !content.IsDirect {
			// A ghost invited to a room that is not a direct chat waits there for the room to
			// become a group (the create command).
			return br.acceptGroupInvite(ctx, target, evt.RoomID)
		}
		return br.startDMFromInvite(ctx, evt.Sender, target, evt.RoomID)
	}
	return nil
}

// handleBotInvite answers an invitation of the bot: users allowed to use the bridge get the bot in
// their room; anybody else gets a polite refusal and the bot leaves again. The room becomes the
// user's management room only when the user has none (or has left it) and the room is a private
// chat with the bot (isPrivateBotRoom): a room made for a group, with ghosts invited after the bot,
// never takes the management room's place. In any other room the bot answers prefixed commands.
func (br *Bridge) handleBotInvite(ctx context.Context, evt *event.Event) error {
	log := zerolog.Ctx(ctx)
	bot := br.AS.BotIntent()
	if _, err := bot.JoinRoomByID(ctx, evt.RoomID); err != nil {
		if hserr.Permanent(err) {
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
	if current := user.ManagementRoom(); current != "" && current != evt.RoomID && br.managementRoomAlive(ctx, user, current) {
		log.Debug().Stringer("management_room", current).Msg("Joined a room; the user already has a management room")
		return nil
	}
	members, err := bot.Members(ctx, evt.RoomID)
	if err != nil {
		return fmt.Errorf("failed to get members of room: %w", err)
	}
	if !br.isPrivateBotRoom(evt, members) {
		log.Debug().Msg("Joined a shared room; not making it a management room")
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

// managementRoomAlive reports whether the user and the bot are both still in room, the user's
// management room. A failure to ask that may pass (e.g. a homeserver hiccup) counts as alive, so a
// working management room is never replaced by mistake.
func (br *Bridge) managementRoomAlive(ctx context.Context, user *User, room id.RoomID) bool {
	var member event.MemberEventContent
	err := br.AS.BotClient().StateEvent(ctx, room, event.StateMember, user.MXID.String(), &member)
	if err != nil {
		// The bot is not in the room any more (403) or the room is gone (404).
		return !hserr.Permanent(err)
	}
	return member.Membership == event.MembershipJoin || member.Membership == event.MembershipInvite
}

// isPrivateBotRoom reports whether a room the bot was invited to is a private chat with the bot:
// no ghost is a member or invited, and the invite is marked as direct or the room holds only the
// inviter and the bot (invited users count: a room whose other members have not joined yet is
// still shared).
func (br *Bridge) isPrivateBotRoom(evt *event.Event, members *mautrix.RespMembers) bool {
	present := 0
	for _, member := range members.Chunk {
		_ = member.Content.ParseRaw(member.Type)
		m := member.Content.AsMember().Membership
		if m != event.MembershipJoin && m != event.MembershipInvite {
			continue
		}
		if br.puppets.IsGhost(id.UserID(member.GetStateKey())) {
			return false
		}
		present++
	}
	return present <= 2 || evt.Content.AsMember().IsDirect
}

// handleMessage handles a message from a real Matrix user: commands in the management room (or with
// the command prefix elsewhere). Messages in portal rooms are bridged by the portal.
func (br *Bridge) handleMessage(ctx context.Context, evt *event.Event) error {
	content := evt.Content.AsMessage()
	// Notices are never commands: they are what bots send, and two bots answering each other's
	// notices would not stop.
	isText := content.MsgType == event.MsgText
	body := content.Body
	replyTo := content.RelatesTo.GetNonFallbackReplyTo()
	if replyTo != "" {
		body = event.TrimReplyFallbackText(body)
	}
	text := strings.TrimSpace(body)
	if isExportUpload(content) {
		// A chat export is someone's whole chat: never forward it to the chat by mistake.
		if p, err := br.DB.Portal.GetByMXID(ctx, evt.RoomID); err != nil {
			return err
		} else if p != nil {
			br.sendBotNoticeTxn(ctx, evt.RoomID, "export-"+evt.ID.String(), fmt.Sprintf(
				"%s looks like a WhatsApp chat export, so it was not sent to the chat. Send `%s import` to bring its messages into Matrix.",
				content.GetFileName(), br.Config.Bridge.CommandPrefix))
			return nil
		}
	}
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
		user:         br.commandAccount(ctx, user, evt.RoomID, isManagement),
		roomID:       evt.RoomID,
		eventID:      evt.ID,
		isManagement: isManagement,
		replyTo:      replyTo,
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
	br.sendBotNoticeID(ctx, roomID, txnID, markdown)
}

// maxNoticeBytes bounds a bot notice's text and HTML together (bytes): homeservers refuse events
// over 65,536 bytes (Client-Server API, "Size limits"), and a notice that quotes a user's input
// (an unknown command of 60 KB, say) would otherwise never arrive.
const maxNoticeBytes = 48 << 10

// noticeCut ends a notice renderNotice had to cut short.
const noticeCut = "\n\n… (cut short: the rest is too long for one message)"

// renderNotice renders a bot notice's markdown (m.notice with HTML), cut short to fit
// maxNoticeBytes.
func renderNotice(markdown string) *event.MessageEventContent {
	content := format.RenderMarkdown(markdown, true, false)
	for size := len(content.Body) + len(content.FormattedBody); size > maxNoticeBytes; size = len(content.Body) + len(content.FormattedBody) {
		// Keep the share of the markdown that fits, with room for the ending and HTML escapes.
		keep := int(int64(len(markdown)) * maxNoticeBytes / int64(size) * 9 / 10)
		for keep > 0 && !utf8.RuneStart(markdown[keep]) {
			keep--
		}
		markdown = markdown[:keep] + noticeCut
		content = format.RenderMarkdown(markdown, true, false)
	}
	content.MsgType = event.MsgNotice
	return &content
}

// sendBotNoticeID is sendBotNoticeTxn returning the notice's event ID ("" when it failed).
func (br *Bridge) sendBotNoticeID(ctx context.Context, roomID id.RoomID, txnID, markdown string) id.EventID {
	content := renderNotice(markdown)
	var extra []mautrix.ReqSendEvent
	if txnID != "" {
		extra = append(extra, mautrix.ReqSendEvent{TransactionID: "mw-" + txnID})
	}
	resp, err := br.AS.BotIntent().SendMessageEvent(ctx, roomID, event.EventMessage, content, extra...)
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Stringer("room_id", roomID).Msg("Failed to send bot notice")
		return ""
	}
	return resp.EventID
}
