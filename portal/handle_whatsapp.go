package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// KeyFor returns the portal key of a WhatsApp chat as seen by login: groups are shared, 1:1 chats
// belong to the login and are keyed by the contact's canonical JID.
func (m *Manager) KeyFor(ctx context.Context, login Login, chat types.JID) (database.PortalKey, error) {
	if chat.Server == types.GroupServer {
		return database.NewPortalKey(chat.ToNonAD(), types.EmptyJID), nil
	}
	if chat.Server == types.BroadcastServer {
		return database.NewPortalKey(chat, login.OwnJID()), nil
	}
	canonical, err := m.puppets.Canonical(ctx, chat, login.LIDs())
	if err != nil {
		return database.PortalKey{}, err
	}
	return database.NewPortalKey(canonical, login.OwnJID()), nil
}

// HandleWhatsAppMessage bridges one message that login's connection received. It returns once the
// message is in Matrix (or was recognised as a duplicate), so the caller may mark it handled.
func (m *Manager) HandleWhatsAppMessage(ctx context.Context, login Login, evt *events.Message) error {
	return m.runInChat(ctx, login, evt.Info.Chat, &waMessageEvent{login: login, evt: evt})
}

// runInChat runs evt in the queue of chat's portal (creating the portal) and waits for it.
// Newsletters, broadcast lists and (unless bridge.status_broadcast is on) status broadcasts have no
// portals: their events are dropped.
func (m *Manager) runInChat(ctx context.Context, login Login, chat types.JID, evt portalEvent) error {
	if !m.BridgesChat(chat) {
		zerolog.Ctx(ctx).Debug().Stringer("chat", chat).Msg("Ignoring message in status or newsletter chat")
		return nil
	}
	key, err := m.KeyFor(ctx, login, chat)
	if err != nil {
		return err
	}
	p, err := m.Get(ctx, key)
	if err != nil {
		return err
	}
	return p.run(ctx, evt)
}

func (p *Portal) handleWAMessage(ctx context.Context, login Login, evt *events.Message) error {
	info := evt.Info
	log := zerolog.Ctx(ctx).With().Str("wa_message_id", info.ID).Stringer("wa_sender", info.Sender).Logger()
	ctx = log.WithContext(ctx)
	exists, placeholder, err := p.lookUpIncoming(ctx, info.ID) // incoming.go
	if err != nil {
		return err
	} else if exists {
		log.Debug().Msg("Dropping duplicate WhatsApp message")
		return nil
	}
	msg := evt.Message
	if msg == nil {
		return nil
	}
	if err = p.ensureRoom(ctx, login); err != nil {
		return err
	}
	sender, err := p.senderGhost(ctx, login, info)
	if err != nil {
		return err
	}
	if err = p.m.ensureGhostJoined(ctx, p.row.MXID, sender); err != nil {
		return fmt.Errorf("failed to join sender ghost: %w", err)
	}
	// Messages that act on other messages, or carry nothing to show, have no event of their own: a
	// placeholder shown for one while it could not be decrypted is removed once it is applied.
	switch {
	case msg.GetProtocolMessage() != nil:
		err = p.handleWAProtocol(ctx, login, sender, evt)
	case msg.GetReactionMessage() != nil:
		err = p.handleWAReaction(ctx, login, sender, info, msg.GetReactionMessage())
	case msg.GetPollUpdateMessage() != nil:
		err = p.handleWAPollVote(ctx, login, sender, evt) // polls.go
	case msg.GetEncReactionMessage() != nil, msg.GetSenderKeyDistributionMessage() != nil && isOnlySKDM(msg):
	default:
		return p.handleWAVisible(ctx, login, sender, evt, placeholder)
	}
	if err != nil {
		return err
	}
	return p.dropPlaceholder(ctx, sender, placeholder)
}

// handleWAVisible bridges a message that becomes events of its own in the room, replacing
// placeholder (nil: none) when one stands in for it.
func (p *Portal) handleWAVisible(ctx context.Context, login Login, sender *puppet.Puppet, evt *events.Message, placeholder *database.Placeholder) error {
	info, msg := evt.Info, evt.Message
	var converted *msgconv.ConvertedMessage
	var err error
	if msgconv.IsViewOnce(msg, evt.IsViewOnce) {
		converted, err = p.convertWAViewOnce(ctx, login, sender, msg)
	} else {
		converted, err = p.convertWAMessage(ctx, login, sender, msg)
	}
	if err != nil {
		return err
	}
	replaced, err := p.replacePlaceholder(ctx, sender, info, converted, msg, placeholder) // undecryptable.go
	if err != nil {
		return err
	} else if !replaced {
		if err = p.sendWAParts(ctx, sender, info, converted, msg, !converted.Parts[0].MediaExpired); err != nil {
			return err
		}
	}
	if converted.Parts[0].MediaExpired {
		p.requestMediaAutomatically(ctx, login, info) // media_retry.go
	}
	return nil
}

// senderGhost returns the ghost a WhatsApp message is sent as: the contact's, or the user's own ghost
// for messages the user sent from their phone.
func (p *Portal) senderGhost(ctx context.Context, login Login, info types.MessageInfo) (*puppet.Puppet, error) {
	jid := info.Sender
	if info.IsFromMe {
		jid = login.OwnJID()
	} else if !info.SenderAlt.IsEmpty() && info.SenderAlt.Server == types.DefaultUserServer {
		jid = info.SenderAlt
	}
	return p.m.puppets.Get(ctx, jid, login.LIDs())
}

// txnID is unique across the whole bridge (the homeserver deduplicates per appservice token, not
// per ghost) and stable for one WhatsApp message part, so a re-delivered message is not sent twice.
func (p *Portal) txnID(waID types.MessageID, part int) string {
	return fmt.Sprintf("mw.%s.%s.%s.%d", p.Key.JID.User, p.Key.Receiver.User, waID, part)
}

func isOnlySKDM(msg *waE2E.Message) bool {
	stripped := proto.CloneOf(msg)
	stripped.SenderKeyDistributionMessage = nil
	stripped.MessageContextInfo = nil
	return isEmptyMessage(stripped)
}

func (p *Portal) handleWAProtocol(ctx context.Context, login Login, sender *puppet.Puppet, evt *events.Message) error {
	proto := evt.Message.GetProtocolMessage()
	switch proto.GetType() {
	case waE2E.ProtocolMessage_REVOKE:
		return p.handleWARevoke(ctx, login, sender, evt, proto.GetKey().GetID())
	case waE2E.ProtocolMessage_MESSAGE_EDIT:
		return p.handleWAEdit(ctx, login, sender, evt, proto.GetKey().GetID(), proto.GetEditedMessage())
	case waE2E.ProtocolMessage_EPHEMERAL_SETTING:
		timer := time.Duration(proto.GetEphemeralExpiration()) * time.Second
		return p.applyDisappearing(ctx, sender.MXID, timer, evt.Info.Timestamp.UnixMilli(), p.txnID(evt.Info.ID, 0)) // disappearing.go
	default:
		zerolog.Ctx(ctx).Debug().Stringer("type", proto.GetType()).Msg("Ignoring protocol message")
		return nil
	}
}

func (p *Portal) handleWAReaction(ctx context.Context, login Login, sender *puppet.Puppet, info types.MessageInfo, reaction *waE2E.ReactionMessage) error {
	targetID := reaction.GetKey().GetID()
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, targetID)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		zerolog.Ctx(ctx).Debug().Str("target", targetID).Msg("Reaction to unknown message, ignoring")
		return nil
	}
	senderJID := sender.JID
	existing, err := p.m.db.Reaction.Get(ctx, p.Key, targetID, senderJID)
	if err != nil {
		return err
	}
	emoji := reaction.GetText()
	if existing != nil {
		if existing.Emoji == emoji {
			return nil
		}
		if err = p.m.matrix.Redact(ctx, sender.MXID, p.row.MXID, existing.MXID, "mw.unreact."+existing.MXID.String()); err != nil {
			return fmt.Errorf("failed to redact previous reaction: %w", err)
		}
		if err = p.m.db.Reaction.Delete(ctx, p.Key, targetID, senderJID); err != nil {
			return err
		}
	}
	if emoji == "" {
		return nil
	}
	content := &event.ReactionEventContent{RelatesTo: event.RelatesTo{
		Type: event.RelAnnotation, EventID: parts[0].MXID, Key: reactionToMatrix(emoji),
	}}
	eventID, err := p.m.matrix.SendEvent(ctx, sender.MXID, p.row.MXID, event.EventReaction, content, info.Timestamp.UnixMilli(), p.txnID(info.ID, 0))
	if err != nil {
		return fmt.Errorf("failed to send reaction to Matrix: %w", err)
	}
	return p.m.db.Reaction.Upsert(ctx, &database.Reaction{
		Portal: p.Key, TargetWAID: targetID, Sender: senderJID, MXID: eventID,
		Emoji: emoji, WAID: info.ID, Timestamp: info.Timestamp,
	})
}
