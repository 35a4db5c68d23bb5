package msgconv

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"maunium.net/go/mautrix/event"
)

// An attachment from WhatsApp is downloaded and decrypted with the receiving login's connection and
// uploaded to the homeserver as the sender's ghost. Nothing is kept on disk: the file lives in
// memory for the duration of one conversion, which MaxMediaSize bounds.

// waMedia is the part of a WhatsApp media message the bridge uses, whatever its kind.
type waMedia struct {
	kind     MediaKind
	msg      whatsmeow.DownloadableMessage
	mimeType string
	caption  string
	fileName string
	length   uint64
	width    int
	height   int
	seconds  int
	waveform []byte
	// gif marks a video WhatsApp plays as a looping GIF (an MP4 with gifPlayback); animated a
	// sticker that moves.
	gif      bool
	animated bool
	// lottie marks a Lottie sticker (wa_lottie.go), whose file is not bridged but its still image,
	// pngThumbnail.
	lottie       bool
	pngThumbnail []byte
	// jpegThumbnail is the small preview WhatsApp sends inline with an image or video.
	jpegThumbnail []byte
	ctxInfo       *waE2E.ContextInfo
}

// waMediaOf returns the attachment of msg, or nil when msg is not a media message.
func waMediaOf(msg *waE2E.Message) *waMedia {
	switch {
	case msg.ImageMessage != nil:
		m := msg.GetImageMessage()
		return &waMedia{kind: MediaImage, msg: m, mimeType: m.GetMimetype(), caption: m.GetCaption(),
			length: m.GetFileLength(), width: int(m.GetWidth()), height: int(m.GetHeight()), ctxInfo: m.GetContextInfo(),
			jpegThumbnail: m.GetJPEGThumbnail()}
	case msg.VideoMessage != nil:
		m := msg.GetVideoMessage()
		return &waMedia{kind: MediaVideo, msg: m, mimeType: m.GetMimetype(), caption: m.GetCaption(),
			length: m.GetFileLength(), width: int(m.GetWidth()), height: int(m.GetHeight()),
			seconds: int(m.GetSeconds()), gif: m.GetGifPlayback(), ctxInfo: m.GetContextInfo(), jpegThumbnail: m.GetJPEGThumbnail()}
	case msg.AudioMessage != nil:
		m := msg.GetAudioMessage()
		kind := MediaAudio
		if m.GetPTT() {
			kind = MediaVoice
		}
		return &waMedia{kind: kind, msg: m, mimeType: m.GetMimetype(), length: m.GetFileLength(),
			seconds: int(m.GetSeconds()), waveform: m.GetWaveform(), ctxInfo: m.GetContextInfo()}
	case msg.DocumentMessage != nil:
		m := msg.GetDocumentMessage()
		name := m.GetFileName()
		if name == "" {
			name = m.GetTitle()
		}
		return &waMedia{kind: MediaDocument, msg: m, mimeType: m.GetMimetype(), caption: m.GetCaption(),
			fileName: name, length: m.GetFileLength(), ctxInfo: m.GetContextInfo()}
	case msg.StickerMessage != nil:
		m := msg.GetStickerMessage()
		return &waMedia{kind: MediaSticker, msg: m, mimeType: m.GetMimetype(), length: m.GetFileLength(),
			width: int(m.GetWidth()), height: int(m.GetHeight()), animated: m.GetIsAnimated(), ctxInfo: m.GetContextInfo(),
			lottie: isLottieSticker(m.GetIsLottie(), m.GetMimetype()), pngThumbnail: m.GetPngThumbnail()}
	case msg.GetLottieStickerMessage().GetMessage().GetStickerMessage() != nil:
		// A Lottie sticker whose wrapper whatsmeow did not remove.
		media := waMediaOf(msg.GetLottieStickerMessage().GetMessage())
		media.lottie = true
		return media
	}
	return nil
}

// convertMedia downloads a WhatsApp attachment and uploads it to Matrix. A file WhatsApp no longer
// has, a corrupt or an oversized one becomes a notice saying so; a transient failure (connection
// down, server error) is returned, so the message comes again.
func (c *FromWhatsApp) convertMedia(ctx context.Context, media *waMedia) (Part, error) {
	log := zerolog.Ctx(ctx).With().Stringer("media_kind", media.kind).Logger()
	if media.lottie {
		return c.convertLottieSticker(log.WithContext(ctx), media) // wa_lottie.go
	}
	if media.length > MaxMediaSize {
		return mediaFailedNotice(media.kind, tooLargeReason(int64(media.length))), nil
	}
	if c.WhatsApp == nil {
		return Part{}, ErrNotConnected
	}
	data, err := c.WhatsApp.Download(ctx, media.msg)
	if err != nil {
		if reason := downloadFailureReason(err); reason != "" {
			log.Warn().Err(err).Msg("WhatsApp media cannot be downloaded")
			part := mediaFailedNotice(media.kind, reason)
			part.MediaExpired = isExpiredMedia(err)
			return part, nil
		}
		return Part{}, fmt.Errorf("failed to download %s: %w", media.kind, err)
	}
	if len(data) > MaxMediaSize {
		return mediaFailedNotice(media.kind, tooLargeReason(int64(len(data)))), nil
	}
	mimeType := media.mimeType
	if mimeType == "" {
		mimeType = http.DetectContentType(data)
	}
	fileName := media.fileName
	if fileName == "" {
		fileName = media.kind.DefaultFileName(mimeType)
	}
	if c.Matrix == nil {
		return Part{}, fmt.Errorf("failed to upload %s to Matrix: no media repository", media.kind)
	}
	content := &event.MessageEventContent{
		MsgType: media.kind.MatrixMsgType(),
		Body:    fileName,
		Info: &event.FileInfo{
			MimeType: mimeType, Size: len(data), Width: media.width, Height: media.height,
			Duration: media.seconds * 1000,
		},
	}
	err = c.upload(ctx, content, data, mimeType, fileName)
	if errors.Is(err, ErrMediaTooLarge) {
		log.Warn().Err(err).Int("size", len(data)).Msg("Homeserver refused WhatsApp media as too large")
		return mediaFailedNotice(media.kind, "the file is too large for the Matrix server"), nil
	} else if err != nil {
		return Part{}, fmt.Errorf("failed to upload %s to Matrix: %w", media.kind, err)
	}
	c.addWhatsAppThumbnail(ctx, content, media.jpegThumbnail) // thumbnail.go
	if media.caption != "" {
		caption := c.text(ctx, media.caption, media.ctxInfo)
		content.FileName = fileName
		content.Body, content.Format, content.FormattedBody = caption.Body, caption.Format, caption.FormattedBody
		content.Mentions = caption.Mentions
	}
	if media.kind == MediaVoice {
		content.MSC3245Voice = &event.MSC3245Voice{}
		content.MSC1767Audio = &event.MSC1767Audio{Duration: media.seconds * 1000, Waveform: scaleWaveform(media.waveform)}
	}
	if media.kind == MediaSticker {
		content.Body = "Sticker"
		content.Info.IsAnimated = media.animated
	}
	if media.gif {
		markGIF(content.Info)
	}
	log.Debug().Int("size", len(data)).Msg("Bridged WhatsApp media to Matrix")
	return Part{Type: media.kind.MatrixEventType(), Content: content}, nil
}

// gifVideoFlags are the file info keys with which Matrix clients and bridges mark a video to be
// played as a GIF: looping, starting by itself, silent and without controls.
var gifVideoFlags = []string{"fi.mau.loop", "fi.mau.autoplay", "fi.mau.hide_controls", "fi.mau.no_audio"}

// markGIF marks a video's file info as a GIF (fi.mau.gif and gifVideoFlags).
func markGIF(info *event.FileInfo) {
	info.MauGIF = true
	if info.Extra == nil {
		info.Extra = map[string]any{}
	}
	for _, flag := range gifVideoFlags {
		info.Extra[flag] = true
	}
}

// isGIFVideo reports whether a Matrix video is marked to be played as a GIF (see markGIF).
func isGIFVideo(info *event.FileInfo) bool {
	if info == nil {
		return false
	}
	loop, _ := info.Extra["fi.mau.loop"].(bool)
	return info.MauGIF || loop
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
	case errors.Is(err, ErrMediaTooLarge):
		return fmt.Sprintf("the file is larger than the bridge takes (%d MB)", MaxMediaSize/1000/1000)
	}
	return ""
}

// isExpiredMedia reports whether a download failed because WhatsApp's servers no longer have the
// file (404, 410, or 403 for an expired URL), which the phone's re-upload can fix.
func isExpiredMedia(err error) bool {
	return errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith404) || errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith410) ||
		errors.Is(err, whatsmeow.ErrMediaDownloadFailedWith403)
}

// mediaFailedNotice is what the room sees instead of an attachment that cannot be bridged.
func mediaFailedNotice(kind MediaKind, reason string) Part {
	return messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf("Failed to bridge %s: %s", kind, reason)})
}

// scaleWaveform converts WhatsApp's waveform (0-100 per sample) to MSC1767's (0-1024).
func scaleWaveform(waveform []byte) []int {
	out := make([]int, len(waveform))
	for i, v := range waveform {
		out[i] = min(int(v), 100) * 1024 / 100
	}
	return out
}
