package wasim

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Media is an attachment for UploadMedia and Contact.SendMedia.
type Media struct {
	// Kind is KindImage, KindVideo, KindAudio, KindPTT (voice note), KindDocument or KindSticker.
	Kind string
	// Data is the plaintext file.
	Data []byte
	// MimeType defaults per kind (image/jpeg, video/mp4, audio/ogg; codecs=opus,
	// application/octet-stream, image/webp).
	MimeType string
	// Caption is shown under images, videos and documents.
	Caption string
	// FileName names a document.
	FileName string
	// GIF sends a video as WhatsApp's apps send a GIF: an MP4 played looping and silent
	// (gifPlayback).
	GIF bool
	// Animated marks a sticker as animated (an animated WebP).
	Animated bool
	// Lottie sends a sticker as WhatsApp's first-party animated stickers are sent: Data is the .was
	// file (a zip of Lottie JSON, mimetype application/was by default), the sticker is flagged
	// animated and Lottie and wrapped in a LottieStickerMessage (which whatsmeow unwraps, setting
	// IsLottieSticker). Only for KindSticker.
	Lottie bool
	// Thumbnail is a sticker's still PNG, sent inline in PngThumbnail as WhatsApp does for Lottie
	// stickers (its width and height become the sticker's when it decodes as a PNG), or the small
	// JPEG preview of an image or video, sent inline in JPEGThumbnail as WhatsApp's apps do.
	Thumbnail []byte
	// ViewOnce sends an image, video or voice note as view-once, as WhatsApp's apps do: flagged
	// and wrapped in a ViewOnceMessageV2.
	ViewOnce bool
}

var defaultMimeTypes = map[string]string{
	KindImage: "image/jpeg", KindVideo: "video/mp4", KindAudio: "audio/ogg; codecs=opus",
	KindPTT: "audio/ogg; codecs=opus", KindDocument: "application/octet-stream", KindSticker: "image/webp",
}

// lottieMimeType is the mimetype of a Lottie sticker's .was file.
const lottieMimeType = "application/was"

var mediaTypes = map[string]whatsmeow.MediaType{
	KindImage: whatsmeow.MediaImage, KindVideo: whatsmeow.MediaVideo, KindAudio: whatsmeow.MediaAudio,
	KindPTT: whatsmeow.MediaAudio, KindDocument: whatsmeow.MediaDocument, KindSticker: whatsmeow.MediaImage,
}

// IsMediaKind reports whether kind is one UploadMedia accepts.
func IsMediaKind(kind string) bool {
	_, ok := mediaTypes[kind]
	return ok
}

// UploadMedia encrypts and uploads m with cli (whatsmeow's Upload) and returns the message that
// carries it, ready for SendMessage.
func UploadMedia(ctx context.Context, cli *whatsmeow.Client, m Media) (*waE2E.Message, error) {
	msg, err := uploadMedia(ctx, cli, m)
	if err != nil || !m.ViewOnce {
		return msg, err
	}
	switch {
	case msg.ImageMessage != nil:
		msg.ImageMessage.ViewOnce = proto.Bool(true)
	case msg.VideoMessage != nil:
		msg.VideoMessage.ViewOnce = proto.Bool(true)
	case msg.AudioMessage != nil:
		msg.AudioMessage.ViewOnce = proto.Bool(true)
	default:
		return nil, fmt.Errorf("%s cannot be sent as view-once", m.Kind)
	}
	return &waE2E.Message{ViewOnceMessageV2: &waE2E.FutureProofMessage{Message: msg}}, nil
}

func uploadMedia(ctx context.Context, cli *whatsmeow.Client, m Media) (*waE2E.Message, error) {
	mediaType, ok := mediaTypes[m.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown media kind %q", m.Kind)
	} else if m.Lottie && m.Kind != KindSticker {
		return nil, fmt.Errorf("a %s cannot be a Lottie sticker", m.Kind)
	} else if m.Thumbnail != nil && m.Kind != KindSticker && m.Kind != KindImage && m.Kind != KindVideo {
		return nil, fmt.Errorf("a %s carries no thumbnail", m.Kind)
	}
	up, err := cli.Upload(ctx, m.Data, mediaType)
	if err != nil {
		return nil, fmt.Errorf("failed to upload %s: %w", m.Kind, err)
	}
	mime := m.MimeType
	if mime == "" && m.Lottie {
		mime = lottieMimeType
	} else if mime == "" {
		mime = defaultMimeTypes[m.Kind]
	}
	var caption *string
	if m.Caption != "" {
		caption = proto.String(m.Caption)
	}
	keyTS := proto.Int64(time.Now().Unix())
	switch m.Kind {
	case KindImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: &mime, Caption: caption,
			MediaKeyTimestamp: keyTS, JPEGThumbnail: m.Thumbnail,
		}}, nil
	case KindVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: &mime, Caption: caption,
			MediaKeyTimestamp: keyTS, GifPlayback: optionalTrue(m.GIF), JPEGThumbnail: m.Thumbnail,
		}}, nil
	case KindAudio, KindPTT:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: &mime,
			PTT: proto.Bool(m.Kind == KindPTT), MediaKeyTimestamp: keyTS,
		}}, nil
	case KindDocument:
		name := m.FileName
		if name == "" {
			name = "file"
		}
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: &mime, Caption: caption,
			FileName: &name, Title: &name, MediaKeyTimestamp: keyTS,
		}}, nil
	default: // KindSticker
		sticker := &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: &mime, MediaKeyTimestamp: keyTS,
			IsAnimated: optionalTrue(m.Animated || m.Lottie), IsLottie: optionalTrue(m.Lottie), PngThumbnail: m.Thumbnail,
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(m.Thumbnail)); err == nil {
			sticker.Width, sticker.Height = proto.Uint32(uint32(cfg.Width)), proto.Uint32(uint32(cfg.Height))
		}
		if m.Lottie {
			return &waE2E.Message{LottieStickerMessage: &waE2E.FutureProofMessage{
				Message: &waE2E.Message{StickerMessage: sticker},
			}}, nil
		}
		return &waE2E.Message{StickerMessage: sticker}, nil
	}
}

// optionalTrue is a set protobuf flag for true and an absent one for false, as WhatsApp's apps
// leave unset flags out.
func optionalTrue(v bool) *bool {
	if !v {
		return nil
	}
	return proto.Bool(true)
}

// Attachment returns the downloadable part of a message (image, video, audio, document or
// sticker), or nil if it has none.
func Attachment(msg *waE2E.Message) whatsmeow.DownloadableMessage {
	switch {
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage()
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage()
	case msg.GetAudioMessage() != nil:
		return msg.GetAudioMessage()
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage()
	case msg.GetStickerMessage() != nil:
		return msg.GetStickerMessage()
	case msg.GetLottieStickerMessage().GetMessage().GetStickerMessage() != nil: // as sent, before whatsmeow unwraps it
		return msg.GetLottieStickerMessage().GetMessage().GetStickerMessage()
	}
	return nil
}

// SendMedia uploads m through the contact's whatsmeow client and sends it to a user.
func (c *Contact) SendMedia(ctx context.Context, to types.JID, m Media) (types.MessageID, error) {
	msg, err := UploadMedia(ctx, c.cli, m)
	if err != nil {
		return "", err
	}
	return c.Send(ctx, to, msg)
}

// Download fetches and decrypts the attachment of a received message.
func (c *Contact) Download(ctx context.Context, msg *waE2E.Message) ([]byte, error) {
	att := Attachment(msg)
	if att == nil {
		return nil, fmt.Errorf("message has no attachment")
	}
	return c.cli.Download(ctx, att)
}
