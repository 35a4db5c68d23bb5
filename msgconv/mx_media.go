package msgconv

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// ConvertMedia moves the attachment of a Matrix event to WhatsApp's media servers and builds the
// message that carries it, with the caption and the quoted message of a reply. The file is
// downloaded (and decrypted, for an encrypted attachment) before the upload. Oversized, vanished or
// undecryptable files fail with a PermanentError; a missing WhatsApp connection with ErrNotConnected.
// A GIF image or sticker is sent as a WhatsApp GIF (an MP4 with gifPlayback) when GIFToMP4 is
// set, else as a document with a Note; a PNG or JPEG sticker is re-encoded as WebP, the only sticker
// format WhatsApp shows, and any other sticker is sent as an image (mx_gif_sticker.go). A vCard
// file without a caption is sent as a contact card (several cards as a contact list), as WhatsApp's
// apps share contacts; one that does not parse is sent as a document. Images and videos carry a
// JPEG thumbnail (thumbnail.go).
func (c *FromMatrix) ConvertMedia(ctx context.Context, evtType event.Type, content *event.MessageEventContent) (*waE2E.Message, error) {
	kind := MatrixMediaKind(evtType, content)
	if content.Info != nil && content.Info.Size > MaxMediaSize {
		return nil, permanent(fmt.Errorf("cannot send %s to WhatsApp: %s", kind, tooLargeReason(int64(content.Info.Size))))
	}
	if c.WhatsApp == nil {
		return nil, ErrNotConnected
	}
	data, err := c.download(ctx, content)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMediaSize {
		return nil, permanent(fmt.Errorf("cannot send %s to WhatsApp: %s", kind, tooLargeReason(int64(len(data)))))
	}
	mimeType := ""
	if content.Info != nil {
		mimeType = content.Info.MimeType
	}
	if mimeType == "" {
		mimeType = http.DetectContentType(data)
	}
	if kind.hasWhatsAppLimit() && len(data) > WhatsAppMediaLimit {
		c.note(fmt.Sprintf(NoteSentAsFile, kind))
		kind = MediaDocument
	}
	gifPlayback := isGIFVideo(content.Info)
	var stillImage []byte // the image a thumbnail can be made of, when the event has none
	if kind == MediaImage {
		stillImage = data
	}
	var width, height int
	switch {
	case isGIF(mimeType) && (kind == MediaImage || kind == MediaSticker):
		stillImage = data
		data, mimeType, kind, gifPlayback = c.convertGIF(ctx, data) // mx_gif_sticker.go
	case kind == MediaSticker && !isWebP(mimeType):
		if webpData, w, h, ok := stickerToWebP(ctx, data); ok {
			data, mimeType, width, height = webpData, "image/webp", w, h
		} else {
			kind = MediaImage
		}
	}
	caption, ctxInfo, err := c.caption(ctx, content)
	if err != nil {
		return nil, err
	}
	if kind == MediaDocument && caption == "" && isVCardFile(mimeType, content.GetFileName()) {
		if msg := contactMessageOf(data, ctxInfo); msg != nil { // vcard.go
			return msg, nil
		}
	}
	up, err := c.WhatsApp.Upload(ctx, data, kind.WhatsAppType())
	if err != nil {
		return nil, fmt.Errorf("failed to upload %s to WhatsApp: %w", kind, err)
	}
	msg := buildWAMediaMessage(kind, up, mimeType, caption, content, ctxInfo)
	if v := msg.GetVideoMessage(); v != nil {
		v.GifPlayback = optBool(gifPlayback)
		v.JPEGThumbnail = c.whatsAppThumbnail(ctx, content, stillImage) // thumbnail.go
	}
	if img := msg.GetImageMessage(); img != nil {
		img.JPEGThumbnail = c.whatsAppThumbnail(ctx, content, stillImage)
	}
	if s := msg.GetStickerMessage(); s != nil && width > 0 {
		s.Width, s.Height = optUint32(uint32(width)), optUint32(uint32(height))
	}
	return msg, nil
}

// download fetches the attachment of content, decrypting it when the event carries an encrypted file.
func (c *FromMatrix) download(ctx context.Context, content *event.MessageEventContent) ([]byte, error) {
	rawURL := content.URL
	if content.File != nil {
		rawURL = content.File.URL
	}
	if rawURL == "" {
		return nil, permanent(errors.New("the attachment has no URL"))
	}
	uri, err := rawURL.Parse()
	if err != nil {
		return nil, permanent(fmt.Errorf("the attachment has an invalid URL %q", rawURL))
	}
	if c.Matrix == nil {
		return nil, fmt.Errorf("failed to download %s: no media repository", uri)
	}
	data, err := c.Matrix.Download(ctx, uri.CUString())
	if errors.Is(err, ErrMediaNotFound) {
		return nil, permanent(fmt.Errorf("the attachment %s is not on the Matrix server", uri))
	} else if errors.Is(err, ErrMediaTooLarge) {
		return nil, permanent(fmt.Errorf("cannot send the attachment to WhatsApp: it is larger than %d MB", MaxMediaSize/1000/1000))
	} else if err != nil {
		return nil, fmt.Errorf("failed to download %s: %w", uri, err)
	}
	if content.File != nil {
		if err = content.File.DecryptInPlace(data); err != nil {
			return nil, permanent(fmt.Errorf("failed to decrypt the attachment: %w", err))
		}
	}
	return data, nil
}

// buildWAMediaMessage puts an uploaded file into the message of its kind. Durations are rounded up
// to whole seconds; a document without a name is called "file".
func buildWAMediaMessage(kind MediaKind, up whatsmeow.UploadResponse, mimeType, caption string, content *event.MessageEventContent, ctxInfo *waE2E.ContextInfo) *waE2E.Message {
	var captionPtr *string
	if caption != "" {
		captionPtr = proto.String(caption)
	}
	var width, height, seconds uint32
	if content.Info != nil {
		width, height, seconds = uint32(content.Info.Width), uint32(content.Info.Height), uint32((content.Info.Duration+999)/1000)
	}
	if seconds == 0 && content.MSC1767Audio != nil {
		seconds = uint32((content.MSC1767Audio.Duration + 999) / 1000)
	}
	switch kind {
	case MediaImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Caption: captionPtr, Width: optUint32(width), Height: optUint32(height),
			ContextInfo: ctxInfo,
		}}
	case MediaSticker:
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Width: optUint32(width), Height: optUint32(height), ContextInfo: ctxInfo,
			IsAnimated: optBool(content.Info != nil && content.Info.IsAnimated),
		}}
	case MediaVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Caption: captionPtr, Width: optUint32(width), Height: optUint32(height),
			Seconds: optUint32(seconds), ContextInfo: ctxInfo, GifPlayback: optBool(isGIFVideo(content.Info)),
		}}
	case MediaAudio, MediaVoice:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), PTT: proto.Bool(kind == MediaVoice), Seconds: optUint32(seconds),
			ContextInfo: ctxInfo,
		}}
	}
	name := content.GetFileName()
	if name == "" {
		name = "file"
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		Mimetype: proto.String(mimeType), Caption: captionPtr, FileName: proto.String(name), Title: proto.String(name),
		ContextInfo: ctxInfo,
	}}
}

func optBool(v bool) *bool {
	if !v {
		return nil
	}
	return proto.Bool(true)
}

func optUint32(v uint32) *uint32 {
	if v == 0 {
		return nil
	}
	return proto.Uint32(v)
}
