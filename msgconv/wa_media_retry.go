package msgconv

import (
	"fmt"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

// A WhatsApp attachment expires from WhatsApp's media servers after a while (weeks), but the phones
// that sent or received it usually keep the file. A companion asks its own phone to upload it again
// with a media retry receipt (whatsmeow's SendMediaRetryReceipt), encrypted with the attachment's
// media key; the phone answers with a new direct path (events.MediaRetry), under which the same
// encrypted file can be downloaded again.

// MediaKey returns the media key of msg's attachment (image, video, audio, document or sticker),
// or nil when msg is nil or has none.
func MediaKey(msg *waE2E.Message) []byte {
	if msg == nil {
		return nil
	}
	if media := waMediaOf(msg); media != nil {
		return media.msg.GetMediaKey()
	}
	return nil
}

// WithDirectPath returns a copy of msg whose attachment is at directPath: what the phone's answer
// to a media retry request says. It returns nil when msg is nil or has no attachment. msg is not
// modified.
func WithDirectPath(msg *waE2E.Message, directPath string) *waE2E.Message {
	if msg == nil || waMediaOf(msg) == nil {
		return nil
	}
	out := proto.CloneOf(msg)
	path := proto.String(directPath)
	switch {
	case out.ImageMessage != nil:
		out.ImageMessage.DirectPath, out.ImageMessage.URL = path, nil
	case out.VideoMessage != nil:
		out.VideoMessage.DirectPath, out.VideoMessage.URL = path, nil
	case out.AudioMessage != nil:
		out.AudioMessage.DirectPath, out.AudioMessage.URL = path, nil
	case out.DocumentMessage != nil:
		out.DocumentMessage.DirectPath, out.DocumentMessage.URL = path, nil
	case out.StickerMessage != nil:
		out.StickerMessage.DirectPath, out.StickerMessage.URL = path, nil
	}
	return out
}

// PhoneLacksMediaNotice is the text that replaces the notice of an expired attachment of msg when
// the phone does not have the file either.
func PhoneLacksMediaNotice(msg *waE2E.Message) string {
	kind := MediaDocument
	if media := MediaKind(0); msg != nil && waMediaOf(msg) != nil {
		media = waMediaOf(msg).kind
		kind = media
	}
	return fmt.Sprintf("Failed to bridge %s: it is no longer available on WhatsApp, and your phone no longer has it either.", kind)
}
