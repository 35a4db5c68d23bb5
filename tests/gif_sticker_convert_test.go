package tests

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os/exec"
	"testing"
	"time"

	"github.com/gen2brain/webp"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestGIFAndPNGStickerFromMatrix: a GIF image from Matrix reaches WhatsApp as a WhatsApp GIF (an
// MP4 with gifPlayback) when the bridge has ffmpeg, and otherwise as the unchanged file with a
// note to the sender; a PNG sticker reaches WhatsApp as a WebP sticker of the same size. The bridge
// process has the test's PATH, so the branch taken is the one this machine offers.
func TestGIFAndPNGStickerFromMatrix(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340091")
	erin, _, dm := openDMSaying(t, ctx, env, alice, "4917600000091", "Erin", "send me a gif")

	anim := &gif.GIF{}
	for i := 0; i < 4; i++ {
		frame := image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.Black, color.White})
		frame.SetColorIndex(i, i, 1)
		anim.Image, anim.Delay = append(anim.Image, frame), append(anim.Delay, 10)
	}
	var gifData bytes.Buffer
	if err := gif.EncodeAll(&gifData, anim); err != nil {
		t.Fatal(err)
	}
	up, err := alice.client.UploadBytes(ctx, gifData.Bytes(), "image/gif")
	if err != nil {
		t.Fatal(err)
	}
	gifEvt, err := alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgImage, Body: "party.gif",
		URL: up.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "image/gif", Width: 16, Height: 16, Size: gifData.Len()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, lookErr := exec.LookPath("ffmpeg"); lookErr == nil {
		got := waitWAKind(t, ctx, erin, wasim.KindVideo)
		if v := got.Message.GetVideoMessage(); !v.GetGifPlayback() || v.GetMimetype() != "video/mp4" {
			t.Errorf("WhatsApp received the GIF as %v", v)
		}
	} else {
		got := waitWAKind(t, ctx, erin, wasim.KindDocument)
		if d := got.Message.GetDocumentMessage(); d.GetMimetype() != "image/gif" || d.GetFileName() != "party.gif" {
			t.Errorf("WhatsApp received the GIF as %v", d)
		}
		if data, err := erin.Download(ctx, got.Message); err != nil || !bytes.Equal(data, gifData.Bytes()) {
			t.Errorf("contact's download of the GIF file: err %v, equal %v", err, bytes.Equal(data, gifData.Bytes()))
		}
		env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
			c := evt.Content.AsMessage()
			return evt.Sender == env.BotMXID() && c.MsgType == event.MsgNotice && c.Body == msgconv.NoteGIFAsFile &&
				c.RelatesTo.GetReplyTo() == gifEvt.EventID
		})
	}

	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for i := 0; i < 64; i++ {
		img.Set(i, i, color.NRGBA{G: 180, A: 255})
	}
	var pngData bytes.Buffer
	if err = png.Encode(&pngData, img); err != nil {
		t.Fatal(err)
	}
	up, err = alice.client.UploadBytes(ctx, pngData.Bytes(), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventSticker, &event.MessageEventContent{Body: "wave", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Width: 96, Height: 64, Size: pngData.Len()}}); err != nil {
		t.Fatal(err)
	}
	got := waitWAKind(t, ctx, erin, wasim.KindSticker)
	if s := got.Message.GetStickerMessage(); s.GetMimetype() != "image/webp" || s.GetWidth() != 96 || s.GetHeight() != 64 {
		t.Errorf("WhatsApp received the sticker as %v", s)
	}
	data, err := erin.Download(ctx, got.Message)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := webp.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != 96 || cfg.Height != 64 {
		t.Errorf("the sticker WhatsApp received is not a 96x64 WebP: %+v, %v", cfg, err)
	}
}
