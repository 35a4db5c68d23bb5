package msgconv

import (
	"context"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// ConvertCaptionEdit returns the new content of an attachment whose caption a WhatsApp edit
// changed: media, the attachment's Matrix content as it was first bridged, with the caption of
// edited (an empty caption leaves the file name as the body). The file is not downloaded again:
// WhatsApp only lets a caption be edited, never the file. ok is false when edited is not an
// attachment; convert it with Convert then. media is not modified.
func (c *FromWhatsApp) ConvertCaptionEdit(ctx context.Context, edited *waE2E.Message, media *event.MessageEventContent) (content *event.MessageEventContent, ok bool) {
	wa := waMediaOf(edited)
	if wa == nil || media == nil {
		return nil, false
	}
	copied := *media
	content = &copied
	name := media.FileName
	if name == "" {
		name = media.Body
	}
	content.RelatesTo, content.NewContent = nil, nil
	if wa.caption == "" {
		content.Body, content.FileName, content.Format, content.FormattedBody = name, "", "", ""
		content.Mentions = &event.Mentions{}
		return content, true
	}
	caption := c.text(ctx, wa.caption, wa.ctxInfo)
	content.FileName = name
	content.Body, content.Format, content.FormattedBody = caption.Body, caption.Format, caption.FormattedBody
	content.Mentions = caption.Mentions
	return content, true
}
