package wasim

import (
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// authorOf is the sender of message id as this phone knows it: the sender of a message it
// received, else itself (a message it sent, or one it never saw).
func (c *Contact) authorOf(id types.MessageID) types.JID {
	if msg := c.findMessage(id); msg != nil {
		return msg.Info.Sender.ToNonAD()
	}
	return c.JID()
}

// actOn builds the reaction, edit or delete a control request asks for (whatsmeow's BuildReaction,
// BuildEdit, BuildRevoke, as WhatsApp's apps send them) in chat.
func (c *Contact) actOn(chat types.JID, req sendRequest) *waE2E.Message {
	switch {
	case req.ReactTo != "":
		return c.cli.BuildReaction(chat, c.authorOf(req.ReactTo), req.ReactTo, req.Text)
	case req.EditOf != "":
		return c.cli.BuildEdit(chat, req.EditOf, &waE2E.Message{Conversation: proto.String(req.Text)})
	}
	author := c.authorOf(req.DeleteOf)
	if author == c.JID() {
		author = types.EmptyJID // one's own message
	}
	return c.cli.BuildRevoke(chat, author, req.DeleteOf)
}

// replyText is text quoting message id, with the quoted message's content when this phone
// has it (WhatsApp's apps send the quoted content along: ContextInfo.QuotedMessage).
func (c *Contact) replyText(id types.MessageID, text string) *waE2E.Message {
	info := &waE2E.ContextInfo{StanzaID: proto.String(id), Participant: proto.String(c.authorOf(id).String())}
	if msg := c.findMessage(id); msg != nil {
		info.QuotedMessage = msg.Message
	}
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(text), ContextInfo: info}}
}
