package portal

import (
	"context"
	"errors"
	"fmt"
	"html"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// Relay mode: in a portal with a relay user (database.Portal.RelayUser, set by set-relay), the
// messages of Matrix users without a WhatsApp login are sent through the relay user's login, with
// the sender's name put in front by bridge.relay.message_template: texts, attachments (in the
// caption) and edits of their own relayed messages. Reactions, deletions, polls and stickers are
// not relayed (WhatsApp could not show who made them).

// Errors of relay mode.
var (
	ErrRelayDisabled = errors.New("relay mode is turned off on this bridge (bridge.relay.enabled)")
	ErrRelayInDM     = errors.New("relaying is not allowed in direct chats on this bridge (bridge.relay.allow_in_dms)")
	ErrNotChatOwner  = errors.New("only the owner of this direct chat can relay in it")
	errNoRelay       = errors.New("you are not logged in to WhatsApp and this room has no relay, so your messages here cannot be bridged")
)

// relayEvent turns the portal's relay on (user) or off (empty user).
type relayEvent struct {
	user id.UserID
}

func (*relayEvent) kind() string { return "set relay" }

// mayRelay reports whether evt, from a user without a login, is of a kind a relay may send; the
// portal then checks whether it has one.
func (m *Manager) mayRelay(evt *event.Event) bool {
	if !m.cfg.Bridge.Relay.Enabled || m.cfg.PermissionLevel(evt.Sender.String()) < config.LevelRelay {
		return false
	}
	return evt.Type == event.EventMessage
}

// SetRelay makes userID's WhatsApp login the relay of the portal of roomID, or with on false
// turns relaying off there. It fails with ErrNotAPortal, ErrRelayDisabled, ErrNotLoggedIn,
// ErrRelayInDM, ErrNotChatOwner or (in the status room) ErrStatusRoomReadOnly. Who may call it is the caller's decision (admin_only).
func (m *Manager) SetRelay(ctx context.Context, roomID id.RoomID, userID id.UserID, on bool) error {
	if !m.cfg.Bridge.Relay.Enabled {
		return ErrRelayDisabled
	}
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil {
		return err
	} else if p == nil {
		return ErrNotAPortal
	}
	if !on {
		return p.run(ctx, &relayEvent{})
	}
	if p.IsStatus() {
		return ErrStatusRoomReadOnly
	}
	login := m.users.LoginByMXID(ctx, userID, p.Key)
	if login == nil || login.OwnJID().IsEmpty() {
		return ErrNotLoggedIn
	}
	if !p.IsGroup() {
		if !m.cfg.Bridge.Relay.AllowInDMs {
			return ErrRelayInDM
		}
		if login.OwnJID().User != p.Key.Receiver.User {
			return ErrNotChatOwner
		}
	}
	return p.run(ctx, &relayEvent{user: userID})
}

func (p *Portal) handleSetRelay(ctx context.Context, evt *relayEvent) error {
	if p.row.RelayUser == evt.user {
		return nil
	}
	p.row.RelayUser = evt.user
	if err := p.m.db.Portal.Update(ctx, p.row); err != nil {
		return fmt.Errorf("failed to store relay: %w", err)
	}
	zerolog.Ctx(ctx).Info().Stringer("relay_user", evt.user).Msg("Portal relay changed")
	return nil
}

// handleRelayed sends a message of a user without a login through the portal's relay.
func (p *Portal) handleRelayed(ctx context.Context, evt *event.Event) error {
	if done, err := p.alreadySent(ctx, evt.ID); err != nil || done {
		return err
	}
	if p.IsStatus() {
		return refuseInStatusRoom(evt) // status.go
	}
	var login Login
	if p.row.RelayUser != "" && (p.IsGroup() || p.m.cfg.Bridge.Relay.AllowInDMs) {
		login = p.m.users.LoginByMXID(ctx, p.row.RelayUser, p.Key)
	}
	if login == nil || login.OwnJID().IsEmpty() {
		return permanent(errNoRelay)
	}
	content := evt.Content.AsMessage()
	name := p.m.matrix.DisplayName(ctx, evt.RoomID, evt.Sender)
	if name == "" {
		name = evt.Sender.Localpart()
	}
	ctx = zerolog.Ctx(ctx).With().Stringer("relay_user", p.row.RelayUser).Logger().WithContext(ctx)
	if target := content.RelatesTo.GetReplaceID(); target != "" {
		orig, err := p.m.db.Message.GetByMXID(ctx, target)
		if err != nil {
			return err
		}
		if orig != nil && orig.SenderMXID != evt.Sender {
			return permanent(errors.New("only the sender of a relayed message can edit it"))
		}
		if content.NewContent == nil {
			return permanent(errors.New("the edit has no new content (m.new_content)"))
		}
		relayed, err := p.relayContent(content.NewContent, name, evt.Sender)
		if err != nil {
			return err
		}
		edit := *content
		edit.NewContent = relayed
		return p.handleMatrixEdit(ctx, login, withContent(evt, &edit), target)
	}
	relayed, err := p.relayContent(content, name, evt.Sender)
	if err != nil {
		return err
	}
	return p.handleMatrixMessage(ctx, login, withContent(evt, relayed))
}

// relayContent puts the sender's name in front of a message's text, or into an attachment's
// caption, by bridge.relay.message_template.
func (p *Portal) relayContent(content *event.MessageEventContent, name string, sender id.UserID) (*event.MessageEventContent, error) {
	tpl := &p.m.cfg.Bridge.Relay
	out := *content
	render := func(senderName, message string) (string, error) {
		return tpl.Render(config.RelayVars{Sender: senderName, UserID: string(sender), Message: message})
	}
	var err error
	switch content.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		if content.MsgType == event.MsgEmote {
			out.MsgType = event.MsgText
			out.Body = "* " + name + " " + content.Body
			if out.FormattedBody != "" {
				out.FormattedBody = "* " + html.EscapeString(name) + " " + content.FormattedBody
			}
			return &out, nil
		}
		if out.Body, err = render(name, content.Body); err != nil {
			return nil, permanent(fmt.Errorf("bridge.relay.message_template failed: %w", err))
		}
		if content.Format == event.FormatHTML && content.FormattedBody != "" {
			out.FormattedBody, err = render(html.EscapeString(name), content.FormattedBody)
		}
	case event.MsgImage, event.MsgVideo, event.MsgAudio, event.MsgFile:
		caption := content.GetCaption()
		out.FileName = content.GetFileName()
		if out.Body, err = render(name, caption); err == nil && caption != "" && content.Format == event.FormatHTML && content.FormattedBody != "" {
			out.FormattedBody, err = render(html.EscapeString(name), content.FormattedBody)
		} else {
			out.Format, out.FormattedBody = "", ""
		}
	default:
		return nil, permanent(fmt.Errorf("%s messages cannot be relayed", content.MsgType))
	}
	if err != nil {
		return nil, permanent(fmt.Errorf("bridge.relay.message_template failed: %w", err))
	}
	return &out, nil
}

// withContent is evt with content in place of its own.
func withContent(evt *event.Event, content *event.MessageEventContent) *event.Event {
	out := *evt
	out.Content = event.Content{Parsed: content}
	return &out
}
