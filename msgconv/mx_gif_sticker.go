package msgconv

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg" // stickers from Matrix may be JPEG
	_ "image/png"  // or PNG
	"strings"

	"github.com/gen2brain/webp"
	"github.com/rs/zerolog"
	"go.mau.fi/util/ffmpeg"
)

// GIFs and stickers from Matrix, as WhatsApp's apps send them:
//
//   - WhatsApp has no GIF format: its apps send a GIF as an MP4 video with gifPlayback, which plays
//     muted in a loop. A GIF image or sticker from Matrix is converted to that when a converter is
//     set (FromMatrix.GIFToMP4, ffmpeg). Without one, or when the conversion fails, the GIF is sent
//     as a document (the file unchanged, so the recipient can still open it animated), and the
//     sender is told why through FromMatrix.Note.
//   - WhatsApp shows only WebP stickers. A PNG or JPEG sticker is re-encoded as WebP with
//     libwebp's encoder (github.com/gen2brain/webp: libwebp compiled to WebAssembly and run by
//     wazero, or the system's libwebp when it is installed; no cgo either way). A sticker that
//     cannot be decoded or is larger than maxStickerPixels is sent as an image.

// maxStickerPixels bounds the stickers that are re-encoded (width x height), so that a crafted
// image cannot make the bridge allocate gigabytes. WhatsApp's own stickers are 512 x 512.
const maxStickerPixels = 4096 * 4096

// NoteGIFAsFile is the note to the sender of a GIF that could not be sent as a WhatsApp GIF.
const NoteGIFAsFile = "Your GIF was sent to WhatsApp as a file, not as a playing GIF: WhatsApp's GIFs are looping videos, and converting it needs ffmpeg, which the bridge's server does not have."

// NoteGIFConversionFailed is the note to the sender of a GIF that ffmpeg could not convert.
const NoteGIFConversionFailed = "Your GIF was sent to WhatsApp as a file, not as a playing GIF: it could not be converted to a video."

// FFmpegGIFToMP4 returns a converter from GIF to an MP4 video as WhatsApp's apps send GIFs
// (H.264, yuv420p, even dimensions, no audio) that runs the ffmpeg binary found on PATH when the
// process started, or nil when there is none.
func FFmpegGIFToMP4() func(ctx context.Context, gif []byte) ([]byte, error) {
	if !ffmpeg.Supported() {
		return nil
	}
	return func(ctx context.Context, gif []byte) ([]byte, error) {
		return ffmpeg.ConvertBytes(ctx, gif, ".mp4", []string{"-f", "gif"}, []string{
			"-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
			"-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
		}, "image/gif")
	}
}

// isGIF reports whether mimeType is a GIF image.
func isGIF(mimeType string) bool {
	return strings.HasPrefix(mimeType, "image/gif")
}

// convertGIF turns a GIF image or sticker into what WhatsApp shows: an MP4 with gifPlayback when
// it can be converted, else a document. It returns the file, its MIME type and kind, and whether
// the video must play as a GIF.
func (c *FromMatrix) convertGIF(ctx context.Context, data []byte) ([]byte, string, MediaKind, bool) {
	if c.GIFToMP4 == nil {
		c.note(NoteGIFAsFile)
		return data, "image/gif", MediaDocument, false
	}
	mp4, err := c.GIFToMP4(ctx, data)
	if err != nil || len(mp4) == 0 {
		zerolog.Ctx(ctx).Warn().Err(err).Int("gif_size", len(data)).Msg("Failed to convert GIF to MP4, sending it as a file")
		c.note(NoteGIFConversionFailed)
		return data, "image/gif", MediaDocument, false
	}
	return mp4, "video/mp4", MediaVideo, true
}

// stickerToWebP re-encodes a PNG or JPEG sticker as WebP; ok is false when it cannot be decoded,
// is too large, or fails to encode.
func stickerToWebP(ctx context.Context, data []byte) (out []byte, width, height int, ok bool) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxStickerPixels {
		zerolog.Ctx(ctx).Debug().Err(err).Int("width", cfg.Width).Int("height", cfg.Height).Msg("Sticker not re-encoded as WebP")
		return nil, 0, 0, false
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Msg("Sticker not re-encoded as WebP")
		return nil, 0, 0, false
	}
	var buf bytes.Buffer
	if err = webp.Encode(&buf, img, webp.Options{Quality: 90, Method: 4}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to encode sticker as WebP, sending it as an image")
		return nil, 0, 0, false
	}
	return buf.Bytes(), cfg.Width, cfg.Height, true
}

// note tells the sender something about how their message reaches WhatsApp.
func (c *FromMatrix) note(text string) {
	if c.Note != nil {
		c.Note(text)
	}
}
