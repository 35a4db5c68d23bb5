package portal

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// Media in both directions: a WhatsApp attachment is downloaded and decrypted with the receiving
// login's connection and uploaded to the homeserver as the sender's ghost; a Matrix attachment is
// downloaded with the bot and uploaded to WhatsApp's media servers with the sender's connection.
// Nothing is kept on disk: both copies live in memory for the duration of one handler, which the
// size limit bounds.

// MaxMediaSize is the largest attachment bridged in either direction (100 MB).
const MaxMediaSize = 100 * 1000 * 1000

// waMedia is the part of a WhatsApp media message the bridge uses, whatever its kind.
type waMedia struct {
	kind     string // for logs and notices: image, video, audio, voice message, document, sticker
	msg      whatsmeow.DownloadableMessage
	msgType  event.MessageType
	evtType  event.Type
	mimeType string
	caption  string
	fileName string
	length   uint64
	width    int
	height   int
	seconds  int
	waveform []byte
	voice    bool
	ctxInfo  *waE2E.ContextInfo
}

// waMediaOf returns the attachment of msg, or nil when msg is not a media message.
func waMediaOf(msg *waE2E.Message) *waMedia {
	switch {
	case msg.ImageMessage != nil:
		m := msg.GetImageMessage()
		return &waMedia{kind: "image", msg: m, msgType: event.MsgImage, evtType: event.EventMessage,
			mimeType: m.GetMimetype(), caption: m.GetCaption(), length: m.GetFileLength(),
			width: int(m.GetWidth()), height: int(m.GetHeight()), ctxInfo: m.GetContextInfo()}
	case msg.VideoMessage != nil:
		m := msg.GetVideoMessage()
		return &waMedia{kind: "video", msg: m, msgType: event.MsgVideo, evtType: event.EventMessage,
			mimeType: m.GetMimetype(), caption: m.GetCaption(), length: m.GetFileLength(),
			width: int(m.GetWidth()), height: int(m.GetHeight()), seconds: int(m.GetSeconds()), ctxInfo: m.GetContextInfo()}
	case msg.AudioMessage != nil:
		m := msg.GetAudioMessage()
		kind := "audio"
		if m.GetPTT() {
			kind = "voice message"
		}
		return &waMedia{kind: kind, msg: m, msgType: event.MsgAudio, evtType: event.EventMessage,
			mimeType: m.GetMimetype(), length: m.GetFileLength(), seconds: int(m.GetSeconds()),
			waveform: m.GetWaveform(), voice: m.GetPTT(), ctxInfo: m.GetContextInfo()}
	case msg.DocumentMessage != nil:
		m := msg.GetDocumentMessage()
		name := m.GetFileName()
		if name == "" {
			name = m.GetTitle()
		}
		return &waMedia{kind: "document", msg: m, msgType: event.MsgFile, evtType: event.EventMessage,
			mimeType: m.GetMimetype(), caption: m.GetCaption(), fileName: name, length: m.GetFileLength(),
			ctxInfo: m.GetContextInfo()}
	case msg.StickerMessage != nil:
		m := msg.GetStickerMessage()
		return &waMedia{kind: "sticker", msg: m, evtType: event.EventSticker,
			mimeType: m.GetMimetype(), length: m.GetFileLength(),
			width: int(m.GetWidth()), height: int(m.GetHeight()), ctxInfo: m.GetContextInfo()}
	}
	return nil
}

// convertWAMedia downloads a WhatsApp attachment and uploads it as the sender's ghost. A file
// WhatsApp no longer has, a corrupt or an oversized one becomes a notice saying so; a transient
// failure (connection down, server error) is returned, so the message is not acknowledged and
// WhatsApp delivers it again.
func (p *Portal) convertWAMedia(ctx context.Context, login Login, info types.MessageInfo, media *waMedia) (*event.MessageEventContent, event.Type, error) {
	log := zerolog.Ctx(ctx).With().Str("media_kind", media.kind).Logger()
	if media.length > MaxMediaSize {
		return mediaFailedNotice(media.kind, tooLargeReason(int64(media.length))), event.EventMessage, nil
	}
	cli := login.Client()
	if cli == nil {
		return nil, event.Type{}, ErrNotConnected
	}
	data, err := cli.Download(ctx, media.msg)
	if err != nil {
		if reason := downloadFailureReason(err); reason != "" {
			log.Warn().Err(err).Msg("WhatsApp media cannot be downloaded")
			return mediaFailedNotice(media.kind, reason), event.EventMessage, nil
		}
		if !cli.IsLoggedIn() {
			return nil, event.Type{}, ErrNotConnected
		}
		return nil, event.Type{}, fmt.Errorf("failed to download %s: %w", media.kind, err)
	}
	if len(data) > MaxMediaSize {
		return mediaFailedNotice(media.kind, tooLargeReason(int64(len(data)))), event.EventMessage, nil
	}
	mimeType := media.mimeType
	if mimeType == "" {
		mimeType = http.DetectContentType(data)
	}
	fileName := media.fileName
	if fileName == "" {
		fileName = defaultFileName(media, mimeType)
	}
	ghost, err := p.senderGhost(ctx, login, info)
	if err != nil {
		return nil, event.Type{}, err
	}
	resp, err := ghost.Intent().UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: mimeType, FileName: fileName})
	if errors.Is(err, mautrix.MTooLarge) {
		log.Warn().Err(err).Int("size", len(data)).Msg("Homeserver refused WhatsApp media as too large")
		return mediaFailedNotice(media.kind, "the file is too large for the Matrix server"), event.EventMessage, nil
	} else if err != nil {
		return nil, event.Type{}, fmt.Errorf("failed to upload %s to Matrix: %w", media.kind, err)
	}
	content := &event.MessageEventContent{
		MsgType: media.msgType,
		Body:    fileName,
		URL:     resp.ContentURI.CUString(),
		Info: &event.FileInfo{
			MimeType: mimeType, Size: len(data), Width: media.width, Height: media.height,
			Duration: media.seconds * 1000,
		},
	}
	if media.caption != "" {
		caption := p.convertText(ctx, login, media.caption, media.ctxInfo)
		content.FileName = fileName
		content.Body, content.Format, content.FormattedBody = caption.Body, caption.Format, caption.FormattedBody
		content.Mentions = caption.Mentions
	}
	if media.voice {
		content.MSC3245Voice = &event.MSC3245Voice{}
		content.MSC1767Audio = &event.MSC1767Audio{Duration: media.seconds * 1000, Waveform: scaleWaveform(media.waveform)}
	}
	if media.evtType == event.EventSticker {
		content.MsgType = ""
		content.Body = "Sticker"
	}
	log.Debug().Int("size", len(data)).Msg("Bridged WhatsApp media to Matrix")
	return content, media.evtType, nil
}

// downloadFailureReason explains a download error that retrying cannot fix, or returns "" for one
// worth retrying.
func downloadFailureReason(err error) string {
	switch {
	case errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith404), errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith410),
		errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith403):
		return "media is no longer available on WhatsApp"
	case errors.Is(err, whatsmeow.ErrInvalidMediaHMAC), errors.Is(err, whatsmeow.ErrInvalidMediaEncSHA256),
		errors.Is(err, whatsmeow.ErrInvalidMediaSHA256), errors.Is(err, whatsmeow.ErrTooShortFile):
		return "the file from WhatsApp is corrupt"
	case errors.Is(err, whatsmeow.ErrNoURLPresent), errors.Is(err, whatsmeow.ErrUnknownMediaType):
		return "the message has no downloadable file"
	}
	return ""
}

// mediaFailedNotice is what the room sees instead of an attachment that cannot be bridged.
func mediaFailedNotice(kind, reason string) *event.MessageEventContent {
	return &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf("Failed to bridge %s: %s", kind, reason)}
}

func tooLargeReason(size int64) string {
	return fmt.Sprintf("the file is too large (%.1f MB, the limit is %d MB)", float64(size)/1e6, MaxMediaSize/1000/1000)
}

// commonExtensions picks the usual extension where the mime package would list several.
var commonExtensions = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
	"video/mp4": ".mp4", "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
	"application/pdf": ".pdf",
}

// defaultFileName names an attachment that came without a name, e.g. "image.jpg".
func defaultFileName(media *waMedia, mimeType string) string {
	base := media.kind
	switch {
	case media.voice:
		base = "voice"
	case media.kind == "document":
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

// scaleWaveform converts WhatsApp's waveform (0-100 per sample) to MSC1767's (0-1024).
func scaleWaveform(waveform []byte) []int {
	out := make([]int, len(waveform))
	for i, v := range waveform {
		out[i] = min(int(v), 100) * 1024 / 100
	}
	return out
}
