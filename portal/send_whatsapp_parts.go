package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// sendWAParts sends every part of a converted WhatsApp message, in order, as ghost, and records
// each in the message map: part 0 with what a reply to msg quotes, attachment parts with their
// Matrix content (for caption edits), except for view-once media. With final set the caller writes
// nothing after the parts, so the last part's row settles the message's inbox row (settle.go).
func (p *Portal) sendWAParts(ctx context.Context, ghost *puppet.Puppet, info types.MessageInfo, converted *msgconv.ConvertedMessage, msg *waE2E.Message, final bool) error {
	for i, part := range converted.Parts {
		row := &database.Message{Media: mediaContentJSON(part.Content), PollAnswers: part.PollAnswers,
			ExpiresAt: p.expiresAt(info.Timestamp, msg)}
		if i == 0 {
			row.Quote = marshalQuote(ctx, msgconv.QuoteContent(msg))
		}
		if i == 0 && part.MediaExpired && !part.ViewOnce {
			row.MediaExpired = true
			part.Content.Body += ". " + p.mediaRetryHint()
		}
		if part.ViewOnce {
			// Nothing that could show view-once media again is kept.
			row.Media, row.Quote = "", nil
			if i == 0 {
				row.Quote = marshalQuote(ctx, msgconv.ViewOnceQuote(msg))
			}
		}
		if err := p.sendWA(ctx, ghost, info, i, part, row, final && i == len(converted.Parts)-1); err != nil {
			return err
		}
	}
	return nil
}

// mediaRetryHint tells the user how to ask the phone for an attachment WhatsApp no longer has.
func (p *Portal) mediaRetryHint() string {
	if p.m.cfg.Bridge.RequestExpiredMediaEnabled() {
		return "The bridge asked your phone to upload it again; react with \u267b\ufe0f to ask once more."
	}
	return "React with \u267b\ufe0f to ask your phone to upload it again."
}

// sendWA sends one converted part to the room as ghost, with WhatsApp's timestamp and a transaction
// ID derived from the WhatsApp message, and records the mapping in row (whose Quote and Media the
// caller fills). Content the homeserver permanently refuses (too large, malformed) is replaced by a
// notice saying so, so that the message is visible, acknowledged and never re-delivered in a loop.
// With settle set the row is written together with the message's settlement (settle.go).
func (p *Portal) sendWA(ctx context.Context, ghost *puppet.Puppet, info types.MessageInfo, part int, mp msgconv.Part, row *database.Message, settle bool) error {
	ts := info.Timestamp.UnixMilli()
	eventID, err := p.m.matrix.SendEvent(ctx, ghost.MXID, p.row.MXID, mp.Type, mp.EventContent(), ts, p.txnID(info.ID, part))
	if err != nil && isRefusedByHomeserver(err) {
		zerolog.Ctx(ctx).Warn().Err(err).Int("part", part).Msg("Homeserver refused WhatsApp message, sending a notice instead")
		notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf(
			"This WhatsApp message could not be shown here: the Matrix server refused it (%s). Open WhatsApp to see it.", refusalReason(err))}
		row.Media = ""
		eventID, err = p.m.matrix.SendEvent(ctx, ghost.MXID, p.row.MXID, event.EventMessage, notice, ts, p.txnID(info.ID, part)+".refused")
	}
	if err != nil {
		return fmt.Errorf("failed to send message to Matrix: %w", err)
	}
	row.Portal, row.WAID, row.Part = p.Key, info.ID, part
	row.Sender, row.SenderMXID = info.Sender.ToNonAD(), ghost.MXID
	row.MXID, row.MXRoom, row.Timestamp = eventID, p.row.MXID, info.Timestamp
	if settle {
		err = p.insertOutcome(ctx, info.ID, row)
	} else {
		err = p.m.db.Message.Insert(ctx, row)
	}
	if err != nil {
		return fmt.Errorf("failed to store message mapping: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Stringer("event_id", eventID).Msg("Bridged WhatsApp message")
	return nil
}

// isRefusedByHomeserver reports whether a send failed because the homeserver will never accept the
// content (hserr.Permanent: a 4xx answer other than 429 and a misrouted request's), as opposed to
// an outage or rate limit worth retrying, or a missing permission (403) that an admin may fix.
func isRefusedByHomeserver(err error) bool {
	return hserr.Permanent(err) && hserr.StatusCode(err) != http.StatusForbidden
}

// refusalReason is the homeserver's error code and message for a notice.
func refusalReason(err error) string {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		return httpErr.RespError.ErrCode + ": " + httpErr.RespError.Err
	}
	return err.Error()
}

// mediaContentJSON is the Matrix content of an attachment part as stored for caption edits (without
// relations and mentions), or "" for a part that is not an attachment.
func mediaContentJSON(content *event.MessageEventContent) string {
	if content == nil || (content.URL == "" && content.File == nil) {
		return ""
	}
	stored := *content
	stored.RelatesTo, stored.Mentions, stored.NewContent = nil, nil, nil
	data, err := json.Marshal(&stored)
	if err != nil {
		return ""
	}
	return string(data)
}

// marshalQuote serializes quote content for the message map (nil for none).
func marshalQuote(ctx context.Context, quote *waE2E.Message) []byte {
	if quote == nil {
		return nil
	}
	data, err := proto.Marshal(quote)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to serialize quote content")
		return nil
	}
	return data
}

// unmarshalQuote reads stored quote content; nil when there is none or it does not parse.
func unmarshalQuote(data []byte) *waE2E.Message {
	if len(data) == 0 {
		return nil
	}
	var msg waE2E.Message
	if proto.Unmarshal(data, &msg) != nil {
		return nil
	}
	return &msg
}
