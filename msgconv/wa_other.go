package msgconv

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"maunium.net/go/mautrix/event"
)

// The WhatsApp kinds Matrix has no common event for yet arrive as readable text: a location with
// its geo: URI, a contact card with its vCard, a poll with its numbered options. Anything else
// becomes a notice naming the kind.

// convertLocation shows a pinned location as an m.location with the place's name and coordinates.
func convertLocation(loc *waE2E.LocationMessage) Part {
	return messagePart(&event.MessageEventContent{
		MsgType: event.MsgLocation,
		Body:    fmt.Sprintf("Location: %s %.6f, %.6f", loc.GetName(), loc.GetDegreesLatitude(), loc.GetDegreesLongitude()),
		GeoURI:  fmt.Sprintf("geo:%.6f,%.6f", loc.GetDegreesLatitude(), loc.GetDegreesLongitude()),
	})
}

// convertContact shows a shared contact card as text: the name, then the vCard.
func convertContact(contact *waE2E.ContactMessage) Part {
	return messagePart(&event.MessageEventContent{
		MsgType: event.MsgText,
		Body:    fmt.Sprintf("Contact: %s\n\n%s", contact.GetDisplayName(), contact.GetVcard()),
	})
}

// convertPoll shows a poll as text: the question, then the options numbered from 1.
func convertPoll(poll *waE2E.PollCreationMessage) Part {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Poll: %s", poll.GetName())
	for i, opt := range poll.GetOptions() {
		fmt.Fprintf(&sb, "\n%d. %s", i+1, opt.GetOptionName())
	}
	return messagePart(&event.MessageEventContent{MsgType: event.MsgText, Body: sb.String()})
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
