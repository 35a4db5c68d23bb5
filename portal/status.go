package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The status room shows the status updates ("stories") of a user's WhatsApp contacts: WhatsApp
// delivers them as messages in the chat status@broadcast, each from its poster. With
// bridge.status_broadcast on, each user gets one such portal (keyed by status@broadcast and the
// user's JID), created with the first update. It only ever receives: messages sent in it are
// refused with a notice, and read receipts and typing in it are not sent, so contacts never see
// that their status was viewed through the bridge. The bridge cannot change the user's push rules
// (that needs the user's own access token), so the room's name and topic say what it is and that
// it may be muted. Status updates are redacted StatusLifetime after they were posted, when they
// vanish from WhatsApp too (if bridge.disappearing_redact is on).

// StatusLifetime is how long WhatsApp shows a status update. With bridge.disappearing_redact on,
// the bridge redacts its copy in the status room then, as for disappearing messages (expiry.go).
const StatusLifetime = 24 * time.Hour

// Name and topic of the status room.
const (
	StatusRoomName  = "WhatsApp status updates"
	StatusRoomTopic = "Status updates of your WhatsApp contacts, each from the contact. " +
		"Nothing you send here goes to WhatsApp, and reading here does not tell your contacts you saw their status. " +
		"Mute this room if you don't want notifications for every update."
)

// ErrStatusRoomReadOnly is the error a message sent in the status room fails with.
var ErrStatusRoomReadOnly = errors.New("this room only shows your WhatsApp contacts' status updates, and nothing sent here goes to WhatsApp")

// IsStatus reports whether the portal is the status broadcast room.
func (p *Portal) IsStatus() bool {
	return p.Key.JID == types.StatusBroadcastJID
}

// BridgesChat reports whether events of chat get a portal: newsletters and broadcast lists never
// do; status@broadcast does when bridge.status_broadcast is on. Groups and users always do.
func (m *Manager) BridgesChat(chat types.JID) bool {
	switch chat.Server {
	case types.NewsletterServer:
		return false
	case types.BroadcastServer:
		return chat == types.StatusBroadcastJID && m.cfg.Bridge.StatusBroadcast
	}
	return true
}

// createStatusRoom creates the status room, with the bot as creator and login's user invited.
func (p *Portal) createStatusRoom(ctx context.Context, login Login) error {
	bot := p.m.matrix.BotMXID()
	roomID, err := p.m.matrix.CreateRoom(ctx, bot, &mautrix.ReqCreateRoom{
		Visibility:         "private",
		Preset:             "private_chat",
		Name:               StatusRoomName,
		Topic:              StatusRoomTopic,
		Invite:             []id.UserID{login.UserMXID()},
		InitialState:       p.initialState(StatusRoomName),
		PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{bot: powerSuperuser}},
	})
	if err != nil {
		return fmt.Errorf("failed to create status room: %w", err)
	}
	p.row.Topic, p.row.NameSet, p.row.TopicSet = StatusRoomTopic, true, true
	if err = p.saveRoom(ctx, roomID, StatusRoomName); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("room_id", roomID).Msg("Created status room")
	return nil
}

// refuseInStatusRoom answers a Matrix event in the status room: messages, reactions and polls
// fail with ErrStatusRoomReadOnly (the sender is told), anything else is ignored.
func refuseInStatusRoom(evt *event.Event) error {
	if evt.StateKey != nil || evt.Type == event.EventRedaction {
		return nil
	}
	return permanent(ErrStatusRoomReadOnly)
}
