package msgconv

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"maunium.net/go/mautrix/event"
)

// FromWhatsApp converts WhatsApp messages into Matrix events, for one receiving login and one
// sender. Its fields are the conversion's view of the outside world; a zero FromWhatsApp converts
// text without mentions or replies and fails on attachments.
type FromWhatsApp struct {
	// WhatsApp downloads attachments with the connection that received the message; nil when that
	// connection is down (attachments then fail with ErrNotConnected).
	WhatsApp WhatsAppMedia
	// Matrix uploads attachments, as the sender's ghost.
	Matrix MatrixMedia
	// Mentions maps mentioned WhatsApp users to Matrix users; nil leaves mentions as "@digits" text.
	Mentions MentionResolver
	// QuotedEvent finds the Matrix event of a quoted message; nil sends replies as plain messages.
	QuotedEvent QuotedEventFunc
	// EncryptMedia uploads attachments as encrypted files (content.File instead of content.URL),
	// for a room whose events are encrypted.
	EncryptMedia bool
}

// Convert turns a WhatsApp message into the Matrix events that show it. The message must be one
// that shows something (not a reaction, edit, revoke or key distribution, which the caller
// handles). Kinds the bridge cannot show yet become a notice naming the kind, attachments that
// cannot be bridged a notice saying why; a reply points at the quoted message when it is known. A
// text too long for one Matrix event becomes several parts in order (see textParts); only the
// first carries the reply.
// An error (only from attachments: the connection is down, a transient download or upload
// failure) means the message must come again.
func (c *FromWhatsApp) Convert(ctx context.Context, msg *waE2E.Message) (*ConvertedMessage, error) {
	var part Part
	var more []Part // further parts of a text too long for one Matrix event
	var ctxInfo *waE2E.ContextInfo
	switch media := waMediaOf(msg); {
	case media != nil:
		var err error
		if part, err = c.convertMedia(ctx, media); err != nil {
			return nil, err
		}
		ctxInfo = media.ctxInfo
	case msg.Conversation != nil, msg.ExtendedTextMessage != nil:
		text := msg.GetConversation()
		if ext := msg.GetExtendedTextMessage(); ext != nil {
			text, ctxInfo = ext.GetText(), ext.GetContextInfo()
		}
		parts := c.textParts(ctx, text, ctxInfo)
		part = messagePart(parts[0])
		for _, content := range parts[1:] {
			more = append(more, messagePart(content))
		}
	case msg.LocationMessage != nil:
		ctxInfo = msg.GetLocationMessage().GetContextInfo()
		part = convertLocation(msg.GetLocationMessage()) // wa_location.go
	case msg.LiveLocationMessage != nil:
		ctxInfo = msg.GetLiveLocationMessage().GetContextInfo()
		parts := convertLiveLocation(msg.GetLiveLocationMessage())
		part, more = parts[0], parts[1:]
	case msg.ContactMessage != nil:
		ctxInfo = msg.GetContactMessage().GetContextInfo()
		var err error
		if part, err = c.convertContacts(ctx, "", []*waE2E.ContactMessage{msg.GetContactMessage()}); err != nil { // wa_contact.go
			return nil, err
		}
	case msg.ContactsArrayMessage != nil:
		list := msg.GetContactsArrayMessage()
		ctxInfo = list.GetContextInfo()
		var err error
		if part, err = c.convertContacts(ctx, list.GetDisplayName(), list.GetContacts()); err != nil {
			return nil, err
		}
	case PollCreation(msg) != nil:
		poll := PollCreation(msg)
		ctxInfo = poll.GetContextInfo()
		part = convertPoll(poll) // wa_poll.go
	default:
		part = convertUnsupported(ctx, msg)
	}
	if quoted := ctxInfo.GetStanzaID(); quoted != "" && !c.setReply(ctx, part.Content, quoted) && len(more) == 0 {
		quoteUnknown(part.Content, ctxInfo.GetQuotedMessage())
	}
	return &ConvertedMessage{Parts: append([]Part{part}, more...)}, nil
}

// messagePart wraps content into an m.room.message part.
func messagePart(content *event.MessageEventContent) Part {
	return Part{Type: event.EventMessage, Content: content}
}

// text converts the text of a message or a caption, with the mentions listed in ctxInfo (which
// may be nil).
func (c *FromWhatsApp) text(ctx context.Context, text string, ctxInfo *waE2E.ContextInfo) *event.MessageEventContent {
	var mentions []types.JID
	for _, raw := range ctxInfo.GetMentionedJID() {
		if jid, err := types.ParseJID(raw); err == nil {
			mentions = append(mentions, jid)
		}
	}
	content := TextToMatrix(ctx, text, mentions, c.Mentions)
	if ctxInfo.GetNonJIDMentions() > 0 {
		// WhatsApp's "@all": everyone in the group is notified.
		content.Mentions.Room = true
	}
	return content
}

// setReply points content at the Matrix event of the quoted WhatsApp message, when it is known,
// and reports whether it was.
func (c *FromWhatsApp) setReply(ctx context.Context, content *event.MessageEventContent, quotedID types.MessageID) bool {
	if c.QuotedEvent == nil {
		return false
	}
	eventID, err := c.QuotedEvent(ctx, quotedID)
	if err != nil || eventID == "" {
		zerolog.Ctx(ctx).Debug().Err(err).Str("quoted_id", quotedID).Msg("Quoted message not found, sending without reply")
		return false
	}
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(eventID)
	return true
}

// maxUnknownQuote bounds the quoted text quoteUnknown puts in front of a reply (bytes), and
// maxQuotedContent the content it may grow: a message split into parts near the event size limit
// gets none.
const (
	maxUnknownQuote  = 500
	maxQuotedContent = 16 << 10
)

// quoteUnknown puts the text of quoted (the copy of the replied-to message WhatsApp sends with a
// reply, ContextInfo.QuotedMessage) in front of a text reply as a quote, when the replied-to
// message has no Matrix event to point at (sent before the chat was bridged, say): the reply keeps
// its context. Media and messages without quoted text are left as they are.
func quoteUnknown(content *event.MessageEventContent, quoted *waE2E.Message) {
	if content == nil || (content.MsgType != event.MsgText && content.MsgType != event.MsgNotice && content.MsgType != event.MsgEmote) ||
		len(content.Body)+len(content.FormattedBody) > maxQuotedContent {
		return
	}
	text := quoted.GetConversation()
	for _, alt := range []string{quoted.GetExtendedTextMessage().GetText(), quoted.GetImageMessage().GetCaption(),
		quoted.GetVideoMessage().GetCaption(), quoted.GetDocumentMessage().GetCaption()} {
		if text == "" {
			text = alt
		}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if len(text) > maxUnknownQuote {
		cut := maxUnknownQuote
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	content.EnsureHasHTML()
	content.Body = "> " + strings.ReplaceAll(text, "\n", "\n> ") + "\n\n" + content.Body
	content.FormattedBody = "<blockquote>" + event.TextToHTML(text) + "</blockquote>" + content.FormattedBody
}

// convertUnsupported is the notice for a kind the bridge cannot show, so nothing vanishes silently.
func convertUnsupported(ctx context.Context, msg *waE2E.Message) Part {
	kind := MessageKind(msg)
	zerolog.Ctx(ctx).Info().Str("kind", kind).Msg("Unsupported WhatsApp message type")
	return messagePart(&event.MessageEventContent{
		MsgType: event.MsgNotice,
		Body:    fmt.Sprintf("Unsupported message type: %s. Open WhatsApp on your phone to see it.", kind),
	})
}

// MessageKind names the content of a WhatsApp message for logs and "unsupported" notices: "image",
// "voice message", "live location", ..., or the names of its fields for kinds without a name.
func MessageKind(msg *waE2E.Message) string {
	if media := waMediaOf(msg); media != nil {
		return media.kind.String()
	}
	switch {
	case msg.ContactsArrayMessage != nil:
		return "contact list"
	case msg.LiveLocationMessage != nil:
		return "live location"
	case msg.PollUpdateMessage != nil:
		return "poll vote"
	case msg.GroupInviteMessage != nil:
		return "group invite"
	case msg.ButtonsMessage != nil, msg.ListMessage != nil, msg.TemplateMessage != nil:
		return "interactive message"
	}
	var names []string
	proto.Message(msg).ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		names = append(names, string(fd.Name()))
		return true
	})
	if len(names) == 0 {
		return "empty message"
	}
	return strings.Join(names, ", ")
}

// IsEmptyMessage reports whether msg has no field set at all.
func IsEmptyMessage(msg *waE2E.Message) bool {
	empty := true
	msg.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}
