package portal

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waMmsRetry"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// Expired media: an attachment WhatsApp's servers no longer have is bridged as a notice marked
// MediaExpired. The bridge then asks the user's phone to upload the file again (a media retry
// receipt encrypted with the attachment's media key; msgconv/wa_media_retry.go): at once when
// bridge.request_expired_media is on, and whenever the user reacts to the notice with ♻️ (or 🔄)
// or replies to it with the request-media command. The phone's answer (events.MediaRetry) comes
// through the chat's queue: with a new direct path the file is downloaded, uploaded to Matrix and
// replaces the notice (an m.replace edit, recorded so that a later delete redacts it too); without
// one the notice is edited to say that the phone no longer has the file either.

// ErrNoExpiredMedia means a media request named an event that is not the notice of an attachment
// WhatsApp no longer has (or whose file was already bridged).
var ErrNoExpiredMedia = errors.New("that message is not a notice of media WhatsApp no longer has")

// retryEmojis are the reactions on an expired-media notice that ask the phone for the file,
// without the variation selector (reactionToWhatsApp strips it).
var retryEmojis = map[string]bool{"\u267b": true, "\U0001f504": true}

// isMediaRetryReaction reports whether a Matrix reaction key asks for expired media again.
func isMediaRetryReaction(key string) bool {
	return retryEmojis[reactionToWhatsApp(key)]
}

// mediaRequestEvent asks login's phone for the expired attachment of the message bridged as target.
type mediaRequestEvent struct {
	login  Login
	target id.EventID
}

// mediaRetryEvent is the phone's answer to a media retry request, received by login.
type mediaRetryEvent struct {
	login Login
	evt   *events.MediaRetry
}

func (*mediaRequestEvent) kind() string { return "media request" }
func (*mediaRetryEvent) kind() string   { return "whatsapp media retry" }

// RequestMedia asks userID's phone to upload again the attachment shown as the expired-media notice
// target in roomID. The file replaces the notice when the phone answers. It fails with
// ErrNotAPortal, ErrNotLoggedIn, ErrNotConnected or ErrNoExpiredMedia.
func (m *Manager) RequestMedia(ctx context.Context, roomID id.RoomID, userID id.UserID, target id.EventID) error {
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil {
		return err
	} else if p == nil {
		return ErrNotAPortal
	}
	login := m.users.LoginByMXID(ctx, userID, p.Key)
	if login == nil || login.OwnJID().IsEmpty() {
		return ErrNotLoggedIn
	}
	return p.run(ctx, &mediaRequestEvent{login: login, target: target})
}

// HandleWhatsAppMediaRetry bridges the phone's answer to a media retry request sent by login.
func (m *Manager) HandleWhatsAppMediaRetry(ctx context.Context, login Login, evt *events.MediaRetry) error {
	return m.runInChat(ctx, login, evt.ChatID, &mediaRetryEvent{login: login, evt: evt})
}

func (p *Portal) handleMediaRequest(ctx context.Context, evt *mediaRequestEvent) error {
	row, err := p.m.db.Message.GetByMXID(ctx, evt.target)
	if err != nil {
		return err
	}
	if row == nil || !row.MediaExpired || row.Portal != p.Key {
		return ErrNoExpiredMedia
	}
	return p.requestMedia(ctx, evt.login, row, p.mediaRetryInfo(ctx, evt.login, row))
}

// mediaRetryInfo is the message a stored expired-media notice stands for, as a media retry request
// names it: chat, author and whether the user sent it.
func (p *Portal) mediaRetryInfo(ctx context.Context, login Login, row *database.Message) types.MessageInfo {
	return types.MessageInfo{
		MessageSource: types.MessageSource{
			Chat: p.Key.JID, Sender: row.Sender, IsFromMe: p.isOwnJID(ctx, login, row.Sender), IsGroup: p.IsGroup(),
		},
		ID: row.WAID,
	}
}

// requestMedia sends login's phone a media retry request for the attachment kept in row's quote.
func (p *Portal) requestMedia(ctx context.Context, login Login, row *database.Message, info types.MessageInfo) error {
	mediaKey := msgconv.MediaKey(unmarshalQuote(row.Quote))
	if mediaKey == nil {
		return ErrNoExpiredMedia
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	if err := cli.SendMediaRetryReceipt(ctx, &info, mediaKey); err != nil {
		return fmt.Errorf("failed to ask the phone for the media: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("wa_message_id", row.WAID).Msg("Asked the phone to upload expired media again")
	return nil
}

// requestMediaAutomatically asks for the expired attachment of a message just bridged, when
// bridge.request_expired_media is on. A failure is logged: the user can still ask by reaction.
func (p *Portal) requestMediaAutomatically(ctx context.Context, login Login, info types.MessageInfo) {
	if !p.m.cfg.Bridge.RequestExpiredMediaEnabled() {
		return
	}
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, info.ID)
	if err != nil || len(parts) == 0 || !parts[0].MediaExpired {
		return
	}
	if err = p.requestMedia(ctx, login, parts[0], info); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to ask the phone for expired media")
	}
}

func (p *Portal) handleMediaRetry(ctx context.Context, login Login, evt *events.MediaRetry) error {
	log := zerolog.Ctx(ctx).With().Str("wa_message_id", evt.MessageID).Logger()
	ctx = log.WithContext(ctx)
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, evt.MessageID)
	if err != nil {
		return err
	}
	if len(parts) == 0 || !parts[0].MediaExpired || p.row.MXID == "" {
		log.Debug().Msg("Media retry answer for a message without an expired-media notice, ignoring")
		return nil
	}
	row := parts[0]
	quote := unmarshalQuote(row.Quote)
	notif, err := whatsmeow.DecryptMediaRetryNotification(evt, msgconv.MediaKey(quote))
	switch {
	case errors.Is(err, whatsmeow.ErrMediaNotAvailableOnPhone),
		err == nil && notif.GetResult() == waMmsRetry.MediaRetryNotification_NOT_FOUND:
		log.Info().Msg("Phone no longer has the expired media")
		return p.finishMediaRetry(ctx, row, nil, msgconv.PhoneLacksMediaNotice(quote))
	case err != nil:
		log.Warn().Err(err).Msg("Failed to read the phone's answer to a media request")
		return nil
	case notif.GetResult() != waMmsRetry.MediaRetryNotification_SUCCESS || notif.GetDirectPath() == "":
		log.Warn().Stringer("result", notif.GetResult()).Msg("Phone could not upload the expired media again")
		return nil
	}
	sender, err := p.m.puppets.Get(ctx, row.Sender, login.LIDs())
	if p.isOwnJID(ctx, login, row.Sender) {
		sender, err = p.m.puppets.Get(ctx, login.OwnJID(), login.LIDs())
	}
	if err != nil {
		return err
	}
	converted, err := p.convertWAMessage(ctx, login, sender, msgconv.WithDirectPath(quote, notif.GetDirectPath()))
	if err != nil {
		return err
	}
	part := converted.Parts[0]
	if part.MediaExpired {
		log.Warn().Msg("Media the phone uploaded again is still not downloadable")
		return nil
	}
	return p.finishMediaRetry(ctx, row, &part, "")
}

// finishMediaRetry replaces the expired-media notice row by the attachment part, or, when part is
// nil, by the notice text; either way the phone is not asked again for it.
func (p *Portal) finishMediaRetry(ctx context.Context, row *database.Message, part *msgconv.Part, notice string) error {
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: notice}
	txnID := p.txnID(row.WAID, row.Part) + ".nomedia"
	if part != nil {
		content = part.Content
		if part.Type == event.EventSticker {
			// An edit is an m.room.message; a sticker becomes the image it is.
			content.MsgType = event.MsgImage
		}
		txnID = p.txnID(row.WAID, row.Part) + ".media"
		row.Media = mediaContentJSON(content)
	}
	content.SetEdit(row.MXID)
	eventID, err := p.m.matrix.SendEvent(ctx, row.SenderMXID, p.row.MXID, event.EventMessage, content, 0, txnID)
	if err != nil {
		return fmt.Errorf("failed to replace expired-media notice: %w", err)
	}
	err = p.m.db.Edit.Insert(ctx, &database.MessageEdit{Portal: p.Key, WAID: row.WAID, MXID: eventID, MXRoom: p.row.MXID, SenderMXID: row.SenderMXID})
	if err != nil {
		return fmt.Errorf("failed to record media edit: %w", err)
	}
	row.MediaExpired = false
	if err = p.m.db.Message.Update(ctx, row); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("event_id", eventID).Bool("media", part != nil).Msg("Replaced expired-media notice")
	return nil
}
