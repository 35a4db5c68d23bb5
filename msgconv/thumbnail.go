package msgconv

import (
	"bytes"
	"context"
	"image"
	_ "image/gif" // Matrix thumbnails and images may be GIFs
	"image/jpeg"
	_ "image/png" // or PNGs

	"github.com/rs/zerolog"
	"golang.org/x/image/draw"
	"maunium.net/go/mautrix/event"
)

// Thumbnails both ways. WhatsApp carries a small JPEG inline in image and video messages
// (JPEGThumbnail), which its apps show while the file loads; Matrix links one from the file info
// (info.thumbnail_url, or info.thumbnail_file in encrypted rooms, with info.thumbnail_info). From
// WhatsApp the inline JPEG is uploaded as the Matrix thumbnail as it is. To WhatsApp the Matrix
// thumbnail is used when there is one, else (for an image) the image itself, scaled down so its
// longer side is ThumbnailSide pixels and encoded as JPEG; a video without a Matrix thumbnail goes
// without one (making one would need a video decoder). A thumbnail that cannot be read never
// stops the message: it goes without.

// ThumbnailSide is the longer side, in pixels, of the JPEG thumbnails sent to WhatsApp.
const ThumbnailSide = 100

// maxThumbnailSourcePixels bounds the images the bridge decodes to make a thumbnail (width times
// height), so that a small file claiming a huge image cannot exhaust memory.
const maxThumbnailSourcePixels = 50_000_000

// addWhatsAppThumbnail uploads the JPEG thumbnail of a WhatsApp image or video and links it from
// content's file info. A thumbnail that is not a JPEG, or whose upload fails, is left out.
func (c *FromWhatsApp) addWhatsAppThumbnail(ctx context.Context, content *event.MessageEventContent, thumb []byte) {
	if len(thumb) == 0 || content.Info == nil {
		return
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
	if err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Msg("WhatsApp thumbnail is not a JPEG, leaving it out")
		return
	}
	// The upload may encrypt in place: never touch the message's own bytes.
	holder := &event.MessageEventContent{}
	if err = c.upload(ctx, holder, bytes.Clone(thumb), "image/jpeg", "thumbnail.jpg"); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to upload thumbnail, sending the file without")
		return
	}
	content.Info.ThumbnailURL, content.Info.ThumbnailFile = holder.URL, holder.File
	content.Info.ThumbnailInfo = &event.FileInfo{MimeType: "image/jpeg", Size: len(thumb), Width: cfg.Width, Height: cfg.Height}
}

// whatsAppThumbnail returns the JPEG thumbnail to send to WhatsApp with an image or video from
// Matrix: the event's thumbnail, else the image itself (imageData, nil for a video), as a JPEG of at most
// ThumbnailSide pixels a side; nil when neither can be read.
func (c *FromMatrix) whatsAppThumbnail(ctx context.Context, content *event.MessageEventContent, imageData []byte) []byte {
	log := zerolog.Ctx(ctx)
	if info := content.Info; info != nil && (info.ThumbnailURL != "" || info.ThumbnailFile != nil) {
		thumb := &event.MessageEventContent{URL: info.ThumbnailURL}
		if info.ThumbnailFile != nil {
			thumb.File = info.ThumbnailFile
		}
		data, err := c.download(ctx, thumb)
		if err == nil {
			if out := jpegThumbnail(data); out != nil {
				return out
			}
		}
		log.Debug().Err(err).Msg("Matrix thumbnail cannot be read, making one")
	}
	if imageData == nil {
		return nil
	}
	return jpegThumbnail(imageData)
}

// jpegThumbnail decodes a JPEG, PNG or GIF image and returns it as a JPEG whose longer side is at
// most ThumbnailSide pixels (a smaller image keeps its size), or nil when it does not decode.
func jpegThumbnail(data []byte) []byte {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxThumbnailSourcePixels {
		return nil
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	w, h := thumbnailSize(cfg.Width, cfg.Height)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// Transparent areas become white, as WhatsApp's apps show them.
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	var out bytes.Buffer
	if err = jpeg.Encode(&out, dst, &jpeg.Options{Quality: 75}); err != nil {
		return nil
	}
	return out.Bytes()
}

// thumbnailSize scales width x height so that the longer side is at most ThumbnailSide, keeping
// the aspect ratio and at least one pixel a side.
func thumbnailSize(width, height int) (int, int) {
	longer := max(width, height)
	if longer <= ThumbnailSide {
		return width, height
	}
	return max(1, width*ThumbnailSide/longer), max(1, height*ThumbnailSide/longer)
}
