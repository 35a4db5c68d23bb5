package msgconv

import (
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// QuoteContent returns what a reply to msg carries in ContextInfo.QuotedMessage, the content
// WhatsApp's apps show in the quote bubble: the text of a text message, and for any other kind the
// message itself (media keys and thumbnail included, so the apps can show and open it) without its
// own context info, key distribution and message secret, as WhatsApp's apps quote. It returns nil
// for a nil or empty message. msg is not modified.
func QuoteContent(msg *waE2E.Message) *waE2E.Message {
	switch {
	case msg == nil:
		return nil
	case msg.Conversation != nil:
		return &waE2E.Message{Conversation: proto.String(msg.GetConversation())}
	case msg.ExtendedTextMessage != nil:
		return &waE2E.Message{Conversation: proto.String(msg.GetExtendedTextMessage().GetText())}
	}
	quoted := proto.CloneOf(msg)
	quoted.MessageContextInfo = nil
	quoted.SenderKeyDistributionMessage = nil
	quoted.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
			return true
		}
		sub := v.Message()
		if ci := sub.Descriptor().Fields().ByName("contextInfo"); ci != nil {
			sub.Clear(ci)
		}
		return true
	})
	if IsEmptyMessage(quoted) {
		return nil
	}
	return quoted
}
