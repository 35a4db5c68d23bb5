package msgconv

import (
	"context"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// View-once media is shown on WhatsApp once and then gone. WhatsApp mostly keeps it from linked
// devices (they get a stub, see the portal's undecryptable messages); when it does reach the
// bridge, it is bridged once with a notice, and nothing of it is kept for showing it again.

const (
	// ViewOnceHiddenText is the notice for view-once media the bridge does not show.
	ViewOnceHiddenText = "View-once message. Open WhatsApp on your phone to see it."
	viewOnceShownText  = "This was sent as view-once: WhatsApp shows it only once. The bridge keeps no copy of it."
)

// IsViewOnce reports whether msg (as whatsmeow unwrapped it) is view-once media: isWrapped says
// whether it came in a view-once wrapper (whatsmeow's events.Message.IsViewOnce), else the
// attachment's own view-once flag decides.
func IsViewOnce(msg *waE2E.Message, isWrapped bool) bool {
	return isWrapped || msg.GetImageMessage().GetViewOnce() || msg.GetVideoMessage().GetViewOnce() || msg.GetAudioMessage().GetViewOnce()
}

// ConvertViewOnce converts view-once media. With show set the attachment is bridged like any other,
// followed by a notice that it was view-once; every part is marked ViewOnce so that the caller keeps
// none of it. Otherwise the result is only a notice asking to open WhatsApp, and nothing is
// downloaded. Errors are Convert's.
func (c *FromWhatsApp) ConvertViewOnce(ctx context.Context, msg *waE2E.Message, show bool) (*ConvertedMessage, error) {
	if !show {
		part := messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: ViewOnceHiddenText})
		part.ViewOnce = true
		return &ConvertedMessage{Parts: []Part{part}}, nil
	}
	converted, err := c.Convert(ctx, msg)
	if err != nil {
		return nil, err
	}
	notice := messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: viewOnceShownText})
	converted.Parts = append(converted.Parts, notice)
	for i := range converted.Parts {
		converted.Parts[i].ViewOnce = true
	}
	return converted, nil
}

// ViewOnceQuote is what a reply to view-once media quotes, as WhatsApp's apps quote it: the kind
// marked view-once, without the file's keys, address or thumbnail, so no quote can show it again.
// It returns nil for a message without a view-once attachment.
func ViewOnceQuote(msg *waE2E.Message) *waE2E.Message {
	switch {
	case msg.GetImageMessage() != nil:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{ViewOnce: proto.Bool(true), Mimetype: proto.String(msg.GetImageMessage().GetMimetype())}}
	case msg.GetVideoMessage() != nil:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{ViewOnce: proto.Bool(true), Mimetype: proto.String(msg.GetVideoMessage().GetMimetype())}}
	case msg.GetAudioMessage() != nil:
		a := msg.GetAudioMessage()
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{ViewOnce: proto.Bool(true), Mimetype: proto.String(a.GetMimetype()), PTT: proto.Bool(a.GetPTT())}}
	}
	return nil
}
