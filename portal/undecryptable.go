package portal

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// A message the bridge's WhatsApp connection could not decrypt (events.UndecryptableMessage) is
// shown at once as a placeholder notice from its sender. whatsmeow has already asked for it again:
// a retry receipt to the sender, and (the bridge acknowledges synchronously) a placeholder resend
// request to the user's phone (whatsmeow sendRetryReceipt / immediateRequestMessageFromPhone).
// Whichever copy arrives first replaces the placeholder (replacePlaceholder); later copies are
// duplicates of a known WhatsApp ID and are dropped, so the message appears exactly once.

// Placeholder texts, for the Matrix room.
const (
	placeholderText = "Waiting for this message. WhatsApp could not decrypt it here and has asked your " +
		"phone to resend it; open WhatsApp on your phone if it does not appear."
	viewOnceText = "View-once message. Open WhatsApp on your phone to see it."
)

// HandleWhatsAppUndecryptable shows a message that login's connection could not decrypt as a
// placeholder in its chat's room. It returns once the placeholder is in Matrix (or was not needed).
func (m *Manager) HandleWhatsAppUndecryptable(ctx context.Context, login Login, evt *events.UndecryptableMessage) error {
	return m.runInChat(ctx, login, evt.Info.Chat, &waUndecryptableEvent{login: login, evt: evt})
}

func (p *Portal) handleWAUndecryptable(ctx context.Context, login Login, evt *events.UndecryptableMessage) error {
	info := evt.Info
	log := zerolog.Ctx(ctx).With().Str("wa_message_id", info.ID).Stringer("wa_sender", info.Sender).
		Bool("unavailable", evt.IsUnavailable).Logger()
	ctx = log.WithContext(ctx)
	// The message itself got here first, or a placeholder stands for it already.
	if exists, ph, err := p.m.db.Placeholder.LookUpIncoming(ctx, p.Key, info.ID); err != nil || exists || ph != nil {
		return err
	}
	if err := p.ensureRoom(ctx, login); err != nil {
		return err
	}
	sender, err := p.senderGhost(ctx, login, info)
	if err != nil {
		return err
	}
	if err = p.m.ensureGhostJoined(ctx, p.row.MXID, sender); err != nil {
		return fmt.Errorf("failed to join sender ghost: %w", err)
	}
	viewOnce := evt.UnavailableType == events.UnavailableTypeViewOnce
	body := placeholderText
	if viewOnce {
		body = viewOnceText
	}
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: body}
	txnID := fmt.Sprintf("mw.placeholder.%s.%s.%s", p.Key.JID.User, p.Key.Receiver.User, info.ID)
	eventID, err := p.m.matrix.SendEvent(ctx, sender.MXID, p.row.MXID, event.EventMessage, content, info.Timestamp.UnixMilli(), txnID)
	if err != nil {
		return fmt.Errorf("failed to send placeholder to Matrix: %w", err)
	}
	if viewOnce {
		// WhatsApp never gives companions view-once media: nothing will replace this notice.
		return nil
	}
	err = p.m.db.Placeholder.Insert(ctx, &database.Placeholder{
		Portal: p.Key, WAID: info.ID, Sender: info.Sender, MXID: eventID, Timestamp: info.Timestamp,
	})
	if err != nil {
		return fmt.Errorf("failed to store placeholder: %w", err)
	}
	log.Info().Stringer("event_id", eventID).Msg("Sent placeholder for undecryptable WhatsApp message")
	return nil
}

// replacePlaceholder bridges a message that has a placeholder in the room by replacing it, and
// reports whether it did (false: no placeholder, bridge it as usual). A message that converts to
// one m.room.message event without extra fields becomes an m.replace edit of the placeholder, so
// it keeps the placeholder's place in the timeline and its event ID (which the message map then
// holds for the WhatsApp ID). Anything else (a sticker, a poll, a location, several parts) cannot
// be expressed as an edit: the placeholder is redacted and the parts are sent as new events.
func (p *Portal) replacePlaceholder(ctx context.Context, sender *puppet.Puppet, info types.MessageInfo, converted *msgconv.ConvertedMessage, msg *waE2E.Message, ph *database.Placeholder) (bool, error) {
	if ph == nil {
		return false, nil
	}
	var err error
	log := zerolog.Ctx(ctx).With().Stringer("placeholder_id", ph.MXID).Logger()
	part := converted.Parts[0]
	if len(converted.Parts) == 1 && part.Type == event.EventMessage && len(part.Extra) == 0 {
		content := *part.Content
		expired := part.MediaExpired && !part.ViewOnce
		if expired {
			content.Body += ". " + p.mediaRetryHint()
		}
		content.SetEdit(ph.MXID)
		_, err = p.m.matrix.SendEvent(ctx, sender.MXID, p.row.MXID, event.EventMessage, &content, info.Timestamp.UnixMilli(), p.txnID(info.ID, 0))
		if err != nil {
			return true, fmt.Errorf("failed to replace placeholder: %w", err)
		}
		err = p.m.db.Message.Insert(ctx, &database.Message{
			Portal: p.Key, WAID: info.ID, Sender: info.Sender.ToNonAD(), SenderMXID: sender.MXID,
			MXID: ph.MXID, MXRoom: p.row.MXID, Timestamp: info.Timestamp,
			Quote: marshalQuote(ctx, msgconv.QuoteContent(msg)), Media: mediaContentJSON(part.Content),
			MediaExpired: expired, ExpiresAt: p.expiresAt(info.Timestamp, msg),
		})
		if err != nil {
			return true, fmt.Errorf("failed to store message mapping: %w", err)
		}
		log.Info().Msg("Replaced placeholder with the resent WhatsApp message")
	} else {
		txnID := fmt.Sprintf("mw.placeholder.redact.%s", ph.MXID)
		if err = p.m.matrix.Redact(ctx, sender.MXID, p.row.MXID, ph.MXID, txnID); err != nil {
			return true, fmt.Errorf("failed to redact placeholder: %w", err)
		}
		if err = p.sendWAParts(ctx, sender, info, converted, msg, false); err != nil {
			return true, err
		}
		log.Info().Int("parts", len(converted.Parts)).Msg("Redacted placeholder and sent the resent WhatsApp message")
	}
	return true, p.m.db.Placeholder.Delete(ctx, p.Key, info.ID)
}

// dropPlaceholder removes the placeholder of waID, if it has one, once the resent message turned out
// to have no event of its own (a reaction, an edit, a deletion): its effect is already applied to
// the message it acts on, so the "waiting for this message" notice is redacted.
func (p *Portal) dropPlaceholder(ctx context.Context, sender *puppet.Puppet, ph *database.Placeholder) error {
	if ph == nil {
		return nil
	}
	txnID := fmt.Sprintf("mw.placeholder.redact.%s", ph.MXID)
	if err := p.m.matrix.Redact(ctx, sender.MXID, p.row.MXID, ph.MXID, txnID); err != nil {
		return fmt.Errorf("failed to redact placeholder: %w", err)
	}
	zerolog.Ctx(ctx).Info().Stringer("placeholder_id", ph.MXID).
		Msg("Resent WhatsApp message acts on another message: redacted its placeholder")
	return p.m.db.Placeholder.Delete(ctx, p.Key, ph.WAID)
}
