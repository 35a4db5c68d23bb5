package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// isMatrixMedia reports whether a Matrix message event carries an attachment.
func isMatrixMedia(evtType event.Type, content *event.MessageEventContent) bool {
	return evtType == event.EventSticker || content.MsgType.IsMedia()
}

// convertMatrixMedia downloads a Matrix attachment with the bot, uploads it to WhatsApp with the
// sender's connection and builds the message that carries it, with the caption and the quoted
// message of a reply. Oversized or vanished files fail permanently; a connection that is down
// returns ErrNotConnected so the event waits.
func (p *Portal) convertMatrixMedia(ctx context.Context, login Login, evtType event.Type, content *event.MessageEventContent) (*waE2E.Message, error) {
	kind := matrixMediaKind(evtType, content)
	if content.Info != nil && content.Info.Size > MaxMediaSize {
		return nil, permanent(fmt.Errorf("cannot send %s to WhatsApp: %s", kind, tooLargeReason(int64(content.Info.Size))))
	}
	cli := login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return nil, ErrNotConnected
	}
	data, err := p.downloadMatrixMedia(ctx, content)
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
	if kind == "sticker" && !strings.HasPrefix(mimeType, "image/webp") {
		kind = "image" // WhatsApp only shows WebP stickers
	}
	caption, ctxInfo, err := p.matrixCaption(ctx, login, content)
	if err != nil {
		return nil, err
	}
	up, err := cli.Upload(ctx, data, whatsAppMediaType(kind))
	if err != nil {
		if !cli.IsLoggedIn() || errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrIQDisconnected) {
			return nil, ErrNotConnected
		}
		return nil, fmt.Errorf("failed to upload %s to WhatsApp: %w", kind, err)
	}
	return buildWAMediaMessage(kind, up, mimeType, caption, content, ctxInfo), nil
}

// matrixMediaKind names the WhatsApp message kind a Matrix attachment becomes.
func matrixMediaKind(evtType event.Type, content *event.MessageEventContent) string {
	switch {
	case evtType == event.EventSticker:
		return "sticker"
	case content.MsgType == event.MsgImage:
		return "image"
	case content.MsgType == event.MsgVideo:
		return "video"
	case content.MsgType == event.MsgAudio && content.MSC3245Voice != nil:
		return "voice message"
	case content.MsgType == event.MsgAudio:
		return "audio"
	}
	return "document"
}

func whatsAppMediaType(kind string) whatsmeow.MediaType {
	switch kind {
	case "image", "sticker":
		return whatsmeow.MediaImage
	case "video":
		return whatsmeow.MediaVideo
	case "audio", "voice message":
		return whatsmeow.MediaAudio
	}
	return whatsmeow.MediaDocument
}

// downloadMatrixMedia fetches the attachment (decrypting it when the event carries an encrypted file).
func (p *Portal) downloadMatrixMedia(ctx context.Context, content *event.MessageEventContent) ([]byte, error) {
	rawURL := content.URL
	if content.File != nil {
		rawURL = content.File.URL
	}
	uri, err := rawURL.Parse()
	if err != nil {
		return nil, permanent(fmt.Errorf("the attachment has an invalid URL %q", rawURL))
	}
	data, err := p.m.as.BotClient().DownloadBytes(ctx, uri)
	if errors.Is(err, mautrix.MNotFound) {
		return nil, permanent(fmt.Errorf("the attachment %s is not on the Matrix server", uri))
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

// matrixCaption converts the caption (the body, when it differs from the file name) like a text
// message, and returns the context info carrying mentions and the quoted message of a reply.
func (p *Portal) matrixCaption(ctx context.Context, login Login, content *event.MessageEventContent) (string, *waE2E.ContextInfo, error) {
	text := &event.MessageEventContent{MsgType: event.MsgText, RelatesTo: content.RelatesTo, Mentions: content.Mentions}
	if caption := content.GetCaption(); caption != "" {
		text.Body, text.Format, text.FormattedBody = caption, content.Format, content.FormattedBody
	}
	waMsg, err := p.convertMatrixText(ctx, login, text)
	if err != nil {
		return "", nil, err
	}
	if ext := waMsg.GetExtendedTextMessage(); ext != nil {
		return ext.GetText(), ext.GetContextInfo(), nil
	}
	return waMsg.GetConversation(), nil, nil
}

// buildWAMediaMessage puts an uploaded file into the message of its kind.
func buildWAMediaMessage(kind string, up whatsmeow.UploadResponse, mimeType, caption string, content *event.MessageEventContent, ctxInfo *waE2E.ContextInfo) *waE2E.Message {
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
	case "image":
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Caption: captionPtr, Width: optUint32(width), Height: optUint32(height),
			ContextInfo: ctxInfo,
		}}
	case "sticker":
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Width: optUint32(width), Height: optUint32(height), ContextInfo: ctxInfo,
		}}
	case "video":
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), Caption: captionPtr, Width: optUint32(width), Height: optUint32(height),
			Seconds: optUint32(seconds), ContextInfo: ctxInfo,
		}}
	case "audio", "voice message":
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
			Mimetype: proto.String(mimeType), PTT: proto.Bool(kind == "voice message"), Seconds: optUint32(seconds),
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

func optUint32(v uint32) *uint32 {
	if v == 0 {
		return nil
	}
	return proto.Uint32(v)
}
