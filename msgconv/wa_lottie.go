package msgconv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
)

// WhatsApp's first-party animated stickers are Lottie stickers: a StickerMessage with IsLottie set
// (wrapped in a LottieStickerMessage, which whatsmeow unwraps) whose file, of mimetype
// "application/was", is a zip of Lottie JSON animations. No Matrix client plays that, so the file is
// never downloaded: the still PNG WhatsApp sends along in PngThumbnail becomes the m.sticker's
// image, and a sticker without one becomes a notice.

const (
	// lottieMimeType is the mimetype of a Lottie sticker's file (a zip of Lottie JSON).
	lottieMimeType = "application/was"
	// LottieStickerBody is the body of the m.sticker that shows a Lottie sticker's still image.
	LottieStickerBody = "Animated sticker (a still image here; open WhatsApp on your phone to see it move)"
	// LottieStickerNotice is the notice for a Lottie sticker that came without a still image.
	LottieStickerNotice = "Sent an animated sticker. Open WhatsApp on your phone to see it."
)

// convertLottieSticker shows a Lottie sticker as its still PNG (an m.sticker of the PNG's own width
// and height), or as a notice when the still is missing or not a PNG. Errors are upload failures
// worth retrying.
func (c *FromWhatsApp) convertLottieSticker(ctx context.Context, media *waMedia) (Part, error) {
	log := zerolog.Ctx(ctx)
	still := media.pngThumbnail
	cfg, err := png.DecodeConfig(bytes.NewReader(still))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxStickerPixels {
		log.Debug().Err(err).Int("thumbnail_size", len(still)).Int("width", cfg.Width).Int("height", cfg.Height).
			Msg("Lottie sticker without a usable still image, sending a notice")
		return messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: LottieStickerNotice}), nil
	}
	if c.Matrix == nil {
		return Part{}, errors.New("failed to upload sticker to Matrix: no media repository")
	}
	// upload may encrypt in place; the message's own bytes stay untouched.
	data := bytes.Clone(still)
	content := &event.MessageEventContent{
		Body: LottieStickerBody,
		Info: &event.FileInfo{MimeType: "image/png", Size: len(data), Width: cfg.Width, Height: cfg.Height},
	}
	err = c.upload(ctx, content, data, "image/png", "sticker.png")
	if errors.Is(err, ErrMediaTooLarge) {
		log.Warn().Err(err).Int("size", len(data)).Msg("Homeserver refused a Lottie sticker's still image as too large")
		return messagePart(&event.MessageEventContent{MsgType: event.MsgNotice, Body: LottieStickerNotice}), nil
	} else if err != nil {
		return Part{}, fmt.Errorf("failed to upload sticker to Matrix: %w", err)
	}
	log.Debug().Int("size", len(data)).Msg("Bridged Lottie sticker to Matrix as its still image")
	return Part{Type: event.EventSticker, Content: content}, nil
}

// isLottieSticker reports whether a sticker is a Lottie one: flagged so, or of the Lottie mimetype.
func isLottieSticker(isLottie bool, mimeType string) bool {
	return isLottie || mimeType == lottieMimeType
}
