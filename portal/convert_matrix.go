package portal

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// convertMatrix builds the WhatsApp message of a Matrix message or sticker sent by login's user:
// attachments are downloaded from the homeserver and uploaded with login's connection, pills become
// WhatsApp mentions, replies quote the bridged message. An attachment while the connection is down
// returns ErrNotConnected (the event waits); what cannot be sent at all a PermanentError. note is
// told what the sender should know about how the message reaches WhatsApp (e.g. a GIF as a file).
func (p *Portal) convertMatrix(ctx context.Context, login Login, evtType event.Type, content *event.MessageEventContent, note func(string)) (*waE2E.Message, error) {
	conv := p.fromMatrix(login)
	conv.GIFToMP4 = msgconv.FFmpegGIFToMP4()
	conv.Note = note
	waMsg, err := conv.Convert(ctx, evtType, content)
	return waMsg, conversionError(err)
}

// sendNotes tells the sender of evt, as bot notices replying to it, what they should know about
// how it reached WhatsApp. The transaction IDs derive from the event, so a retry sends no twice.
func (p *Portal) sendNotes(ctx context.Context, evt *event.Event, notes []string) {
	for i, text := range notes {
		content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: text}
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(evt.ID)
		txnID := fmt.Sprintf("mw.note.%s.%d", evt.ID, i)
		if _, err := p.m.matrix.SendEvent(ctx, p.m.matrix.BotMXID(), p.row.MXID, event.EventMessage, content, 0, txnID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to send note about a bridged message")
		}
	}
}

// convertMatrixText builds the WhatsApp message of a Matrix text, notice or emote (an edit's new
// content), with mentions and the quoted message of a reply.
func (p *Portal) convertMatrixText(ctx context.Context, login Login, content *event.MessageEventContent) (*waE2E.Message, error) {
	waMsg, err := p.fromMatrix(login).ConvertText(ctx, content)
	return waMsg, conversionError(err)
}

// fromMatrix is the converter for messages of login's user. Its WhatsApp media is unset while the
// connection is down.
func (p *Portal) fromMatrix(login Login) *msgconv.FromMatrix {
	conv := &msgconv.FromMatrix{
		Matrix:        p.matrixMedia(nil),
		Users:         msgconv.UserResolverFunc(p.resolveMatrixUser),
		QuotedMessage: p.quotedMessage,
	}
	if cli := login.Client(); cli != nil && cli.IsLoggedIn() {
		conv.WhatsApp = waMediaIO{cli: cli}
	}
	return conv
}

// resolveMatrixUser maps a Matrix user in a pill to WhatsApp: a ghost to its contact, a bridge user
// to their own account.
func (p *Portal) resolveMatrixUser(ctx context.Context, userID id.UserID) (types.JID, bool) {
	if ghost, err := p.m.puppets.GetByMXID(ctx, userID); err == nil && ghost != nil {
		return ghost.JID, true
	}
	if user := p.m.users.LoginByMXID(ctx, userID, p.Key); user != nil && !user.OwnJID().IsEmpty() {
		return user.OwnJID(), true
	}
	return types.EmptyJID, false
}

// quotedMessage finds the WhatsApp message a Matrix event was bridged as, for a reply to it, with the
// content the reply quotes (kept in the message map when the message was bridged or last edited).
func (p *Portal) quotedMessage(ctx context.Context, eventID id.EventID) (msgconv.QuotedMessage, bool, error) {
	target, err := p.m.db.Message.GetByMXID(ctx, eventID)
	if err != nil || target == nil {
		return msgconv.QuotedMessage{}, false, err
	}
	quote := target.Quote
	if quote == nil && target.Part != 0 {
		// The content is kept on the first part.
		if parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, target.WAID); err == nil && len(parts) > 0 {
			quote = parts[0].Quote
		}
	}
	return msgconv.QuotedMessage{ID: target.WAID, Sender: target.Sender, Message: unmarshalQuote(quote)}, true, nil
}
