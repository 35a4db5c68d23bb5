package portal

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// handleWARevoke redacts a message deleted for everyone on WhatsApp: every part of it and every
// edit of it (from either side), then forgets it.
func (p *Portal) handleWARevoke(ctx context.Context, login Login, sender *puppet.Puppet, evt *events.Message, targetID string) error {
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, targetID)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		zerolog.Ctx(ctx).Debug().Str("target", targetID).Msg("Revoked message is unknown, nothing to redact")
		return nil
	}
	if mine, err := p.isAuthor(ctx, login, evt, parts[0]); err != nil {
		return err
	} else if !mine {
		// Deleting someone else's message for everyone is for group admins only.
		admin, err := p.isGroupAdmin(ctx, login, evt)
		if err != nil {
			return err
		} else if !admin {
			zerolog.Ctx(ctx).Warn().Str("target", targetID).Stringer("author", parts[0].Sender).
				Msg("Ignoring a delete of someone else's message by a sender who may not delete it")
			return nil
		}
	}
	edits, err := p.m.db.Edit.GetByWAID(ctx, p.Key, targetID)
	if err != nil {
		return err
	}
	redact := func(author id.UserID, target id.EventID) error {
		actor := sender.MXID
		if author != sender.MXID {
			actor = p.m.matrix.BotMXID()
		}
		if err := p.m.matrix.Redact(ctx, actor, p.row.MXID, target, "mw.revoke."+target.String()); err != nil {
			return fmt.Errorf("failed to redact revoked message: %w", err)
		}
		return nil
	}
	for _, edit := range edits {
		if err = redact(edit.SenderMXID, edit.MXID); err != nil {
			return err
		}
	}
	for _, part := range parts {
		if err = redact(part.SenderMXID, part.MXID); err != nil {
			return err
		}
	}
	if err = p.m.db.Edit.Delete(ctx, p.Key, targetID); err != nil {
		return err
	}
	return p.m.db.Message.Delete(ctx, p.Key, targetID)
}

// handleWAEdit bridges a WhatsApp edit as an m.replace of the message's first part. An edit of an
// attachment changes only its caption: the attachment is sent again from the stored Matrix content,
// not downloaded. The edit event is recorded so that a later delete redacts it too.
func (p *Portal) handleWAEdit(ctx context.Context, login Login, sender *puppet.Puppet, evt *events.Message, targetID string, edited *waE2E.Message) error {
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, targetID)
	if err != nil {
		return err
	}
	if len(parts) == 0 || edited == nil {
		zerolog.Ctx(ctx).Debug().Str("target", targetID).Msg("Edited message is unknown, ignoring edit")
		return nil
	}
	target := parts[0]
	if mine, err := p.isAuthor(ctx, login, evt, target); err != nil {
		return err
	} else if !mine {
		zerolog.Ctx(ctx).Warn().Str("target", targetID).Stringer("author", target.Sender).
			Msg("Ignoring an edit of someone else's message")
		return nil
	}
	var content *event.MessageEventContent
	evtType := event.EventMessage
	if media := storedMedia(target); media != nil {
		conv := msgconv.FromWhatsApp{Mentions: msgconv.MentionResolverFunc(p.resolveMention(login))}
		content, _ = conv.ConvertCaptionEdit(ctx, edited, media)
	}
	if content == nil {
		converted, err := p.convertWAMessage(ctx, login, sender, edited)
		if err != nil {
			return err
		}
		content, evtType = converted.Parts[0].Content, converted.Parts[0].Type
	}
	content.SetEdit(target.MXID)
	eventID, err := p.m.matrix.SendEvent(ctx, sender.MXID, p.row.MXID, evtType, content, evt.Info.Timestamp.UnixMilli(), p.txnID(evt.Info.ID, 0))
	if err != nil {
		return fmt.Errorf("failed to send edit to Matrix: %w", err)
	}
	err = p.m.db.Edit.Insert(ctx, &database.MessageEdit{Portal: p.Key, WAID: targetID, MXID: eventID, MXRoom: p.row.MXID, SenderMXID: sender.MXID})
	if err != nil {
		return fmt.Errorf("failed to record edit: %w", err)
	}
	target.EditCount++
	target.LastEdit = evt.Info.Timestamp
	if quote := msgconv.QuoteContent(edited); quote != nil {
		target.Quote = marshalQuote(ctx, quote)
	}
	if err = p.m.db.Message.Update(ctx, target); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Debug().Stringer("event_id", eventID).Msg("Bridged WhatsApp edit")
	return nil
}

// storedMedia is the Matrix content of an attachment part as first bridged, or nil.
func storedMedia(part *database.Message) *event.MessageEventContent {
	if part.Media == "" {
		return nil
	}
	var content event.MessageEventContent
	if json.Unmarshal([]byte(part.Media), &content) != nil {
		return nil
	}
	return &content
}

// isAuthor reports whether evt, a revoke or an edit, comes from the author of target. WhatsApp's
// server cannot see inside the encrypted message, so receivers check this themselves: a message
// may be edited only by its author, and deleted for everyone by its author or a group admin.
// Phone number and LID of one account count as the same (the login's LID map).
func (p *Portal) isAuthor(ctx context.Context, login Login, evt *events.Message, target *database.Message) (bool, error) {
	if evt.Info.IsFromMe {
		return p.isOwnJID(ctx, login, target.Sender), nil
	}
	for _, jid := range []types.JID{evt.Info.Sender, evt.Info.SenderAlt} {
		if !jid.IsEmpty() && p.sameAccount(ctx, login, jid, target.Sender) {
			return true, nil
		}
	}
	return false, nil
}

// sameAccount reports whether a and b (phone number JIDs or LIDs, any device) are one account.
func (p *Portal) sameAccount(ctx context.Context, login Login, a, b types.JID) bool {
	a, b = a.ToNonAD(), b.ToNonAD()
	if a == b {
		return true
	}
	lids := login.LIDs()
	if lids == nil {
		return false
	}
	toPN := func(jid types.JID) types.JID {
		if jid.Server == types.HiddenUserServer {
			if pn, err := lids.GetPNForLID(ctx, jid); err == nil && !pn.IsEmpty() {
				return pn.ToNonAD()
			}
		}
		return jid
	}
	return toPN(a) == toPN(b)
}

// isGroupAdmin reports whether evt's sender is an admin of this portal's group, as WhatsApp says
// now (Client.GetGroupInfo); false in a direct chat.
func (p *Portal) isGroupAdmin(ctx context.Context, login Login, evt *events.Message) (bool, error) {
	if !p.IsGroup() {
		return false, nil
	}
	cli := login.Client()
	if cli == nil {
		return false, ErrNotConnected
	}
	info, err := cli.GetGroupInfo(ctx, p.Key.JID)
	if err != nil {
		return false, fmt.Errorf("failed to get group info to check a delete: %w", err)
	}
	for _, member := range info.Participants {
		if !member.IsAdmin && !member.IsSuperAdmin {
			continue
		}
		for _, jid := range []types.JID{member.JID, member.PhoneNumber, member.LID} {
			if !jid.IsEmpty() && (p.sameAccount(ctx, login, jid, evt.Info.Sender) ||
				(!evt.Info.SenderAlt.IsEmpty() && p.sameAccount(ctx, login, jid, evt.Info.SenderAlt))) {
				return true, nil
			}
		}
	}
	return false, nil
}
