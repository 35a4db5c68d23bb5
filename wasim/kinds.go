package wasim

import (
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
)

// Message kinds reported by MessageKind and the control API.
const (
	KindText     = "text"
	KindImage    = "image"
	KindVideo    = "video"
	KindAudio    = "audio"
	KindPTT      = "ptt" // voice note
	KindDocument = "document"
	KindSticker  = "sticker"
	KindLocation = "location"
	KindContact  = "contact"
	KindReaction = "reaction"
	KindEdit     = "edit"
	KindRevoke   = "revoke"
	KindPoll     = "poll"
	KindPollVote = "poll_vote"
	KindProtocol = "protocol" // other protocol messages (key shares, history sync, ...)
	KindOther    = "other"
)

// MessageKind classifies a received message event by what a user would see: one of the Kind
// constants. Edits (whatsmeow sets IsEdit and unwraps the new content) are KindEdit.
func MessageKind(evt *events.Message) string {
	if evt == nil || evt.Message == nil {
		return KindOther
	}
	if evt.IsEdit {
		return KindEdit
	}
	return messageKind(evt.Message)
}

func messageKind(msg *waE2E.Message) string {
	switch {
	case msg.Conversation != nil || msg.ExtendedTextMessage != nil:
		return KindText
	case msg.ImageMessage != nil:
		return KindImage
	case msg.VideoMessage != nil:
		return KindVideo
	case msg.AudioMessage != nil:
		if msg.GetAudioMessage().GetPTT() {
			return KindPTT
		}
		return KindAudio
	case msg.DocumentMessage != nil:
		return KindDocument
	case msg.StickerMessage != nil || msg.LottieStickerMessage != nil:
		return KindSticker
	case msg.LocationMessage != nil || msg.LiveLocationMessage != nil:
		return KindLocation
	case msg.ContactMessage != nil || msg.ContactsArrayMessage != nil:
		return KindContact
	case msg.ReactionMessage != nil:
		return KindReaction
	case msg.PollCreationMessage != nil || msg.PollCreationMessageV2 != nil || msg.PollCreationMessageV3 != nil:
		return KindPoll
	case msg.PollUpdateMessage != nil:
		return KindPollVote
	case msg.ProtocolMessage != nil:
		switch msg.GetProtocolMessage().GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			return KindRevoke
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			return KindEdit
		}
		return KindProtocol
	case msg.SenderKeyDistributionMessage != nil:
		return KindProtocol
	}
	return KindOther
}

// MessageBody returns the human-readable part of a message event: the text, a caption, a
// reaction's emoji, an edit's new text, a poll's question, a location's name or a contact card's
// (or contact list's) display name. It is "" for kinds without one.
func MessageBody(evt *events.Message) string {
	if evt == nil || evt.Message == nil {
		return ""
	}
	msg := evt.Message
	if pm := msg.GetProtocolMessage(); pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT {
		msg = pm.GetEditedMessage()
	}
	switch {
	case msg.Conversation != nil:
		return msg.GetConversation()
	case msg.ExtendedTextMessage != nil:
		return msg.GetExtendedTextMessage().GetText()
	case msg.ImageMessage != nil:
		return msg.GetImageMessage().GetCaption()
	case msg.VideoMessage != nil:
		return msg.GetVideoMessage().GetCaption()
	case msg.DocumentMessage != nil:
		if caption := msg.GetDocumentMessage().GetCaption(); caption != "" {
			return caption
		}
		return msg.GetDocumentMessage().GetFileName()
	case msg.LocationMessage != nil:
		return msg.GetLocationMessage().GetName()
	case msg.ContactMessage != nil:
		return msg.GetContactMessage().GetDisplayName()
	case msg.ContactsArrayMessage != nil:
		return msg.GetContactsArrayMessage().GetDisplayName()
	case msg.ReactionMessage != nil:
		return msg.GetReactionMessage().GetText()
	case msg.PollCreationMessage != nil:
		return msg.GetPollCreationMessage().GetName()
	case msg.PollCreationMessageV3 != nil:
		return msg.GetPollCreationMessageV3().GetName()
	}
	return ""
}
