package portal

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/format"
)

// convertWAMessage turns a WhatsApp message into Matrix content. Kinds the bridge cannot show yet
// become a notice naming the kind, so nothing vanishes silently. An error (only from media: the
// connection is down, a transient download or upload failure) means the message must come again.
func (p *Portal) convertWAMessage(ctx context.Context, login Login, evt *events.Message) (*event.MessageEventContent, event.Type, error) {
	msg := evt.Message
	var content *event.MessageEventContent
	var ctxInfo *waE2E.ContextInfo
	evtType := event.EventMessage
	switch media := waMediaOf(msg); {
	case media != nil:
		var err error
		if content, evtType, err = p.convertWAMedia(ctx, login, evt.Info, media); err != nil {
			return nil, evtType, err
		}
		ctxInfo = media.ctxInfo
	case msg.Conversation != nil:
		content = p.convertText(ctx, login, msg.GetConversation(), nil)
	case msg.ExtendedTextMessage != nil:
		ctxInfo = msg.GetExtendedTextMessage().GetContextInfo()
		content = p.convertText(ctx, login, msg.GetExtendedTextMessage().GetText(), ctxInfo)
	case msg.LocationMessage != nil:
		loc := msg.GetLocationMessage()
		ctxInfo = loc.GetContextInfo()
		content = &event.MessageEventContent{
			MsgType: event.MsgLocation,
			Body:    fmt.Sprintf("Location: %s %.6f, %.6f", loc.GetName(), loc.GetDegreesLatitude(), loc.GetDegreesLongitude()),
			GeoURI:  fmt.Sprintf("geo:%.6f,%.6f", loc.GetDegreesLatitude(), loc.GetDegreesLongitude()),
		}
	case msg.ContactMessage != nil:
		contact := msg.GetContactMessage()
		ctxInfo = contact.GetContextInfo()
		content = &event.MessageEventContent{MsgType: event.MsgText, Body: fmt.Sprintf("Contact: %s\n\n%s", contact.GetDisplayName(), contact.GetVcard())}
	case msg.PollCreationMessage != nil || msg.PollCreationMessageV3 != nil:
		poll := msg.GetPollCreationMessage()
		if poll == nil {
			poll = msg.GetPollCreationMessageV3()
		}
		ctxInfo = poll.GetContextInfo()
		var sb strings.Builder
		fmt.Fprintf(&sb, "Poll: %s", poll.GetName())
		for i, opt := range poll.GetOptions() {
			fmt.Fprintf(&sb, "\n%d. %s", i+1, opt.GetOptionName())
		}
		content = &event.MessageEventContent{MsgType: event.MsgText, Body: sb.String()}
	default:
		kind := messageKind(msg)
		zerolog.Ctx(ctx).Info().Str("kind", kind).Msg("Unsupported WhatsApp message type")
		content = &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf("Unsupported message type: %s. Open WhatsApp on your phone to see it.", kind)}
	}
	if ctxInfo != nil && ctxInfo.GetStanzaID() != "" {
		p.setReply(ctx, content, ctxInfo.GetStanzaID())
	}
	return content, evtType, nil
}

func (p *Portal) convertText(ctx context.Context, login Login, text string, ctxInfo *waE2E.ContextInfo) *event.MessageEventContent {
	var mentions []types.JID
	for _, raw := range ctxInfo.GetMentionedJID() {
		if jid, err := types.ParseJID(raw); err == nil {
			mentions = append(mentions, jid)
		}
	}
	return format.WhatsAppToMatrix(ctx, text, mentions, format.MentionResolverFunc(p.resolveMention(login)))
}

// setReply points content at the Matrix event of the quoted WhatsApp message, when it is known.
func (p *Portal) setReply(ctx context.Context, content *event.MessageEventContent, quotedID string) {
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, quotedID)
	if err != nil || len(parts) == 0 {
		zerolog.Ctx(ctx).Debug().Err(err).Str("quoted_id", quotedID).Msg("Quoted message not found, sending without reply")
		return
	}
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(parts[0].MXID)
}

// messageKind names the content of a WhatsApp message for logs and "unsupported" notices.
func messageKind(msg *waE2E.Message) string {
	switch {
	case msg.ImageMessage != nil:
		return "image"
	case msg.VideoMessage != nil:
		return "video"
	case msg.AudioMessage != nil:
		if msg.GetAudioMessage().GetPTT() {
			return "voice message"
		}
		return "audio"
	case msg.DocumentMessage != nil:
		return "document"
	case msg.StickerMessage != nil:
		return "sticker"
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

func isEmptyMessage(msg *waE2E.Message) bool {
	empty := true
	msg.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		empty = false
		return false
	})
	return empty
}
