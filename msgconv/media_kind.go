package msgconv

import (
	"fmt"
	"mime"
	"strings"

	"go.mau.fi/whatsmeow"
	"maunium.net/go/mautrix/event"
)

// MediaKind is the kind of an attachment, the same on both sides of the bridge. The zero value
// means "not an attachment".
type MediaKind int

// The attachment kinds. A voice message is audio recorded to be played in the chat (WhatsApp's
// push-to-talk, MSC3245 on Matrix).
const (
	MediaImage MediaKind = iota + 1
	MediaVideo
	MediaAudio
	MediaVoice
	MediaDocument
	MediaSticker
)

// String names the kind as the user reads it in notices: "image", "voice message", ...
func (k MediaKind) String() string {
	switch k {
	case MediaImage:
		return "image"
	case MediaVideo:
		return "video"
	case MediaAudio:
		return "audio"
	case MediaVoice:
		return "voice message"
	case MediaDocument:
		return "document"
	case MediaSticker:
		return "sticker"
	}
	return fmt.Sprintf("MediaKind(%d)", int(k))
}

// WhatsAppType is the media type an attachment of this kind is uploaded to WhatsApp as (it picks
// the encryption keys): stickers are images, voice messages audio, anything unknown a document.
func (k MediaKind) WhatsAppType() whatsmeow.MediaType {
	switch k {
	case MediaImage, MediaSticker:
		return whatsmeow.MediaImage
	case MediaVideo:
		return whatsmeow.MediaVideo
	case MediaAudio, MediaVoice:
		return whatsmeow.MediaAudio
	}
	return whatsmeow.MediaDocument
}

// MatrixEventType is the Matrix event type that carries an attachment of this kind.
func (k MediaKind) MatrixEventType() event.Type {
	if k == MediaSticker {
		return event.EventSticker
	}
	return event.EventMessage
}

// MatrixMsgType is the msgtype of an attachment of this kind; empty for stickers, whose event
// type says what they are.
func (k MediaKind) MatrixMsgType() event.MessageType {
	switch k {
	case MediaImage:
		return event.MsgImage
	case MediaVideo:
		return event.MsgVideo
	case MediaAudio, MediaVoice:
		return event.MsgAudio
	case MediaSticker:
		return ""
	}
	return event.MsgFile
}

// IsMatrixMedia reports whether a Matrix message event carries an attachment.
func IsMatrixMedia(evtType event.Type, content *event.MessageEventContent) bool {
	return evtType == event.EventSticker || content.MsgType.IsMedia()
}

// MatrixMediaKind returns the kind of the attachment of a Matrix event (see IsMatrixMedia): the
// event type marks stickers, MSC3245 marks voice messages, and any other file is a document.
func MatrixMediaKind(evtType event.Type, content *event.MessageEventContent) MediaKind {
	switch {
	case evtType == event.EventSticker:
		return MediaSticker
	case content.MsgType == event.MsgImage:
		return MediaImage
	case content.MsgType == event.MsgVideo:
		return MediaVideo
	case content.MsgType == event.MsgAudio && content.MSC3245Voice != nil:
		return MediaVoice
	case content.MsgType == event.MsgAudio:
		return MediaAudio
	}
	return MediaDocument
}

// commonExtensions picks the usual extension where the mime package would list several.
var commonExtensions = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
	"video/mp4": ".mp4", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
	"application/pdf": ".pdf",
}

// DefaultFileName names an attachment of this kind that came without a name, from its mime type:
// "image.jpg", "voice.ogg", "file.pdf"; without an extension when the type has none.
func (k MediaKind) DefaultFileName(mimeType string) string {
	base := k.String()
	switch k {
	case MediaVoice:
		base = "voice"
	case MediaDocument:
		base = "file"
	}
	mediaType, _, _ := mime.ParseMediaType(mimeType)
	ext, ok := commonExtensions[mediaType]
	if !ok {
		if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
			ext = exts[0]
		}
	}
	return base + ext
}

// isWebP reports whether mimeType is WebP, the only format WhatsApp shows as a sticker.
func isWebP(mimeType string) bool {
	return strings.HasPrefix(mimeType, "image/webp")
}

// tooLargeReason explains to the user why a file of size bytes was not bridged.
func tooLargeReason(size int64) string {
	return fmt.Sprintf("the file is too large (%.1f MB, the limit is %d MB)", float64(size)/1e6, MaxMediaSize/1000/1000)
}

// WhatsAppMediaLimit is the largest photo, video, audio or voice message WhatsApp's apps send and
// show: 16 MB (WhatsApp's help centre on sending media). A larger one from Matrix goes to WhatsApp as
// a document, which its apps take up to 2 GB (the bridge up to MaxMediaSize), with NoteSentAsFile.
const WhatsAppMediaLimit = 16 * 1000 * 1000

// NoteSentAsFile tells a Matrix sender that their attachment (%s: its kind) went to WhatsApp as a
// document because of WhatsAppMediaLimit.
const NoteSentAsFile = "Your %s was sent to WhatsApp as a file: WhatsApp shows photos, videos and voice messages only up to 16 MB."

// hasWhatsAppLimit reports whether WhatsAppMediaLimit applies to k.
func (k MediaKind) hasWhatsAppLimit() bool {
	return k == MediaImage || k == MediaVideo || k == MediaAudio || k == MediaVoice
}
