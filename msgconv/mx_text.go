package msgconv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// FromMatrix converts Matrix events into WhatsApp messages, for one sender. Its fields are the
// conversion's view of the outside world; a zero FromMatrix converts text without mentions or
// replies and fails on attachments.
type FromMatrix struct {
	// Matrix downloads attachments from the homeserver.
	Matrix MatrixMedia
	// WhatsApp uploads attachments with the sender's connection; nil when that connection is down
	// (attachments then fail with ErrNotConnected once the checks that need no connection passed).
	WhatsApp WhatsAppMedia
	// Users maps Matrix users in pills to WhatsApp users; nil writes pills as their display text.
	Users UserResolver
	// QuotedMessage finds the WhatsApp message a reply points at; nil sends replies as plain
	// messages.
	QuotedMessage QuotedMessageFunc
	// GIFToMP4 converts a GIF to an MP4 video, for GIFs sent as WhatsApp GIFs (see
	// FFmpegGIFToMP4); nil sends GIFs as documents.
	GIFToMP4 func(ctx context.Context, gif []byte) ([]byte, error)
	// Note is told, in words for the sender, when a message reaches WhatsApp other than as sent
	// (e.g. a GIF as a file); nil drops these notes. It is called during Convert.
	Note func(text string)
}

// Convert builds the WhatsApp message of a Matrix m.room.message or m.sticker event: text, notice
// and emote become text, attachments are moved to WhatsApp (see ConvertMedia), a location becomes
// a WhatsApp location (see ConvertLocation). Other msgtypes fail with a PermanentError.
func (c *FromMatrix) Convert(ctx context.Context, evtType event.Type, content *event.MessageEventContent) (*waE2E.Message, error) {
	if IsMatrixMedia(evtType, content) {
		return c.ConvertMedia(ctx, evtType, content)
	}
	if content.MsgType == event.MsgLocation {
		return c.ConvertLocation(ctx, content) // mx_location.go
	}
	return c.ConvertText(ctx, content)
}

// ConvertText builds the WhatsApp message of a Matrix text, notice or emote (for an edit, pass the
// m.new_content), with mentions (pills, users listed only in m.mentions, and m.mentions.room as
// WhatsApp's "@all") and the quoted message of a reply. An emote is sent as "/me text".
// Other msgtypes, a missing msgtype, a text that is empty or only whitespace and a text longer than
// MaxWhatsAppTextLength fail with a PermanentError; a failed
// quoted-message lookup is returned as it is.
func (c *FromMatrix) ConvertText(ctx context.Context, content *event.MessageEventContent) (*waE2E.Message, error) {
	return c.convertText(ctx, content, false)
}

// convertText is ConvertText; allowEmpty lets an empty text through (a caption may be empty).
func (c *FromMatrix) convertText(ctx context.Context, content *event.MessageEventContent, allowEmpty bool) (*waE2E.Message, error) {
	switch content.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
	case "":
		return nil, permanent(errors.New("it has no message type (`msgtype`), so the bridge cannot tell what kind of message it is"))
	default:
		return nil, permanent(fmt.Errorf("sending `%s` messages to WhatsApp is not supported yet", content.MsgType))
	}
	text, mentions := TextToWhatsApp(ctx, content, c.Users)
	if strings.TrimSpace(text) == "" && !allowEmpty {
		// WhatsApp's apps never send an empty text; one would show as a blank bubble.
		return nil, permanent(errors.New("it has no text"))
	}
	mentions = addIntentionalMentions(ctx, content, c.Users, mentions)
	if content.MsgType == event.MsgEmote {
		text = "/me " + text
	}
	if err := checkWhatsAppLength(text); err != nil {
		return nil, err
	}
	ctxInfo := &waE2E.ContextInfo{}
	for _, jid := range mentions {
		ctxInfo.MentionedJID = append(ctxInfo.MentionedJID, jid.String())
	}
	if content.Mentions != nil && content.Mentions.Room {
		text = mentionEveryone(text, ctxInfo)
	}
	if replyTo := content.RelatesTo.GetReplyTo(); replyTo != "" && c.QuotedMessage != nil {
		if quoted, found, err := c.QuotedMessage(ctx, replyTo); err != nil {
			return nil, err
		} else if found {
			ctxInfo.StanzaID = proto.String(quoted.ID)
			ctxInfo.Participant = proto.String(quoted.Sender.String())
			ctxInfo.QuotedMessage = quoted.Message
			if ctxInfo.QuotedMessage == nil {
				ctxInfo.QuotedMessage = &waE2E.Message{Conversation: proto.String("")}
			}
		}
	}
	if len(ctxInfo.MentionedJID) == 0 && ctxInfo.StanzaID == nil && ctxInfo.NonJIDMentions == nil {
		return &waE2E.Message{Conversation: proto.String(text)}, nil
	}
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(text), ContextInfo: ctxInfo}}, nil
}

// caption converts the caption of an attachment (its body, when that differs from the file name)
// like a text message, and returns the context info carrying mentions and the quoted message of a
// reply (nil when there is neither).
func (c *FromMatrix) caption(ctx context.Context, content *event.MessageEventContent) (string, *waE2E.ContextInfo, error) {
	text := &event.MessageEventContent{MsgType: event.MsgText, RelatesTo: content.RelatesTo, Mentions: content.Mentions}
	if caption := content.GetCaption(); caption != "" {
		text.Body, text.Format, text.FormattedBody = caption, content.Format, content.FormattedBody
	}
	waMsg, err := c.convertText(ctx, text, true)
	if err != nil {
		return "", nil, err
	}
	if ext := waMsg.GetExtendedTextMessage(); ext != nil {
		return ext.GetText(), ext.GetContextInfo(), nil
	}
	return waMsg.GetConversation(), nil, nil
}
