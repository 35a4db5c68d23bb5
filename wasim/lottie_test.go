package wasim

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"
)

// testPNG returns a blank w x h PNG.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkLottieSticker checks a received Lottie sticker as whatsmeow hands it to a client: unwrapped
// from its LottieStickerMessage, flagged Lottie and animated, the .was file downloadable with cli
// and the still PNG inline with its size.
func checkLottieSticker(t *testing.T, ctx context.Context, cli *whatsmeow.Client, evt *events.Message, was, still []byte, w, h uint32) {
	t.Helper()
	s := evt.Message.GetStickerMessage()
	if !evt.IsLottieSticker || s == nil || evt.RawMessage.GetLottieStickerMessage() == nil {
		t.Fatalf("not a wrapped Lottie sticker: IsLottieSticker %v, message %v", evt.IsLottieSticker, evt.RawMessage)
	}
	if MessageKind(evt) != KindSticker {
		t.Errorf("kind %q", MessageKind(evt))
	}
	if !s.GetIsLottie() || !s.GetIsAnimated() || s.GetMimetype() != "application/was" || s.GetWidth() != w || s.GetHeight() != h {
		t.Errorf("sticker: lottie %v, animated %v, mimetype %q, %dx%d", s.GetIsLottie(), s.GetIsAnimated(), s.GetMimetype(), s.GetWidth(), s.GetHeight())
	}
	if !bytes.Equal(s.GetPngThumbnail(), still) {
		t.Error("PngThumbnail is not the still PNG")
	}
	if got, err := cli.Download(ctx, s); err != nil || !bytes.Equal(got, was) {
		t.Errorf("download of the .was file: err %v, equal %v", err, bytes.Equal(got, was))
	}
}
