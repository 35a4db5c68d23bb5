package msgconv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"slices"
	"testing"

	"github.com/gen2brain/webp"
	"go.mau.fi/whatsmeow"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// testImage is a w x h picture with a diagonal line, so that encoders have something to keep.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w && i < h; i++ {
		img.Set(i, i, color.NRGBA{R: 200, A: 255})
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeGIF(t *testing.T) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	anim := &gif.GIF{}
	for i := 0; i < 3; i++ {
		frame := image.NewPaletted(image.Rect(0, 0, 8, 8), pal)
		frame.SetColorIndex(i, i, 1)
		anim.Image, anim.Delay = append(anim.Image, frame), append(anim.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFromMatrixGIFsAndStickers: GIF images and stickers become WhatsApp GIFs (MP4 with
// gifPlayback) when a converter is there and documents with a note to the sender when not; PNG
// stickers are re-encoded as WebP stickers.
func TestFromMatrixGIFsAndStickers(t *testing.T) {
	t.Parallel()
	gifData := encodeGIF(t)
	pngSticker := encodePNG(t, testImage(64, 48))
	huge := encodePNG(t, image.NewGray(image.Rect(0, 0, 4097, 4097)))
	mp4 := []byte("\x00\x00\x00\x18ftypmp42 converted")
	convert := func(_ context.Context, in []byte) ([]byte, error) {
		if !bytes.Equal(in, gifData) {
			return nil, errors.New("converter got another file")
		}
		return mp4, nil
	}
	broken := func(context.Context, []byte) ([]byte, error) { return nil, errors.New("exit status 1") }
	gifImage := &event.MessageEventContent{MsgType: event.MsgImage, Body: "party.gif", URL: catURI,
		Info: &event.FileInfo{MimeType: "image/gif", Width: 8, Height: 8, Size: len(gifData)}}
	gifSticker := &event.MessageEventContent{Body: "party", URL: catURI, Info: &event.FileInfo{MimeType: "image/gif"}}
	tests := []struct {
		name     string
		evtType  event.Type
		content  *event.MessageEventContent
		data     []byte
		convert  func(context.Context, []byte) ([]byte, error)
		uploaded []byte // nil: check below
		waType   whatsmeow.MediaType
		want     string
		notes    []string
	}{
		{name: "gif image with ffmpeg", evtType: event.EventMessage, content: gifImage, data: gifData, convert: convert,
			uploaded: mp4, waType: whatsmeow.MediaVideo, want: "video video/mp4 gif=true 8x8"},
		{name: "gif image without ffmpeg", evtType: event.EventMessage, content: gifImage, data: gifData,
			uploaded: gifData, waType: whatsmeow.MediaDocument, want: "document image/gif party.gif", notes: []string{NoteGIFAsFile}},
		{name: "gif sticker whose conversion fails", evtType: event.EventSticker, content: gifSticker, data: gifData, convert: broken,
			uploaded: gifData, waType: whatsmeow.MediaDocument, want: "document image/gif party", notes: []string{NoteGIFConversionFailed}},
		{name: "gif sent as a file", evtType: event.EventMessage, data: gifData, convert: convert,
			content:  &event.MessageEventContent{MsgType: event.MsgFile, Body: "party.gif", URL: catURI, Info: &event.FileInfo{MimeType: "image/gif"}},
			uploaded: gifData, waType: whatsmeow.MediaDocument, want: "document image/gif party.gif"},
		{name: "png sticker", evtType: event.EventSticker, data: pngSticker, waType: whatsmeow.MediaImage, want: "sticker image/webp 64x48",
			content: &event.MessageEventContent{Body: "wave", URL: catURI, Info: &event.FileInfo{MimeType: "image/png", Width: 256, Height: 256}}},
		{name: "png sticker over the size limit", evtType: event.EventSticker, data: huge, uploaded: huge, waType: whatsmeow.MediaImage, want: "image image/png",
			content: &event.MessageEventContent{Body: "big", URL: catURI, Info: &event.FileInfo{MimeType: "image/png"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa, mx := &fakeWhatsApp{}, &fakeMatrix{files: map[id.ContentURIString][]byte{catURI: tt.data}}
			var notes []string
			conv := &FromMatrix{Matrix: mx, WhatsApp: wa, GIFToMP4: tt.convert, Note: func(text string) { notes = append(notes, text) }}
			msg, err := conv.Convert(context.Background(), tt.evtType, tt.content)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if wa.uploadType != tt.waType || (tt.uploaded != nil && !bytes.Equal(wa.uploaded, tt.uploaded)) {
				t.Errorf("uploaded %d bytes as %s, want %d bytes as %s", len(wa.uploaded), wa.uploadType, len(tt.uploaded), tt.waType)
			}
			var got string
			switch {
			case msg.GetVideoMessage() != nil:
				m := msg.GetVideoMessage()
				got = fmt.Sprintf("video %s gif=%v %s", m.GetMimetype(), m.GetGifPlayback(), dims(m.GetWidth(), m.GetHeight()))
			case msg.GetDocumentMessage() != nil:
				m := msg.GetDocumentMessage()
				got = "document " + m.GetMimetype() + " " + m.GetFileName()
			case msg.GetStickerMessage() != nil:
				m := msg.GetStickerMessage()
				got = "sticker " + m.GetMimetype() + " " + dims(m.GetWidth(), m.GetHeight())
				cfg, err := webp.DecodeConfig(bytes.NewReader(wa.uploaded))
				if err != nil || cfg.Width != 64 || cfg.Height != 48 {
					t.Errorf("the uploaded sticker is not a 64x48 WebP: %+v, %v", cfg, err)
				}
			case msg.GetImageMessage() != nil:
				got = "image " + msg.GetImageMessage().GetMimetype()
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !slices.Equal(notes, tt.notes) {
				t.Errorf("notes %q, want %q", notes, tt.notes)
			}
		})
	}
}

func dims(w, h uint32) string {
	return fmt.Sprintf("%dx%d", w, h)
}
