package tests

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestGIFsAndStickers: a WhatsApp GIF (an MP4 with gifPlayback) shows as a video marked to loop
// and play by itself, an animated WhatsApp sticker as an animated m.sticker, and a GIF video and
// a WebP sticker from Matrix reach WhatsApp as a GIF and a sticker.
func TestGIFsAndStickers(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340061")
	erin, erinGhost := newContact(t, ctx, env, "4917600000061", "Erin")

	gif := randomBytes(t, "\x00\x00\x00\x18ftypmp42 gif", 20_000)
	if _, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindVideo, Data: gif, GIF: true}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	gifEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Content.AsMessage().MsgType == event.MsgVideo
	})
	info, _ := gifEvt.Content.Raw["info"].(map[string]any)
	if info["fi.mau.gif"] != true || info["fi.mau.loop"] != true || info["fi.mau.autoplay"] != true {
		t.Errorf("GIF shown with info %v", info)
	}
	if got := downloadEventMedia(t, ctx, alice.client, gifEvt); !bytes.Equal(got, gif) {
		t.Error("GIF bytes differ")
	}

	sticker := randomBytes(t, "RIFF\x00\x00\x00\x00WEBPVP8X", 5_000)
	if _, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindSticker, Data: sticker, Animated: true}); err != nil {
		t.Fatal(err)
	}
	stickerEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Type == event.EventSticker
	})
	if c := stickerEvt.Content.AsMessage(); c.Info == nil || !c.Info.IsAnimated || c.Info.MimeType != "image/webp" {
		t.Errorf("animated sticker shown with info %+v", c.Info)
	}

	// Matrix -> WhatsApp.
	video := randomBytes(t, "\x00\x00\x00\x18ftypmp42 mx", 8_000)
	up, err := alice.client.UploadBytes(ctx, video, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{MsgType: event.MsgVideo, Body: "party.mp4", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "video/mp4", Size: len(video), MauGIF: true, Extra: map[string]any{"fi.mau.loop": true}}})
	waGIF := waitWAKind(t, ctx, erin, wasim.KindVideo)
	if !waGIF.Message.GetVideoMessage().GetGifPlayback() {
		t.Errorf("WhatsApp received the GIF as a plain video: %v", waGIF.Message.GetVideoMessage())
	}
	if got, err := erin.Download(ctx, waGIF.Message); err != nil || !bytes.Equal(got, video) {
		t.Errorf("contact's download of the GIF: err %v, equal %v", err, bytes.Equal(got, video))
	}

	webp := randomBytes(t, "RIFF\x00\x00\x00\x00WEBPVP8 ", 3_000)
	up, err = alice.client.UploadBytes(ctx, webp, "image/webp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventSticker, &event.MessageEventContent{Body: "wave", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/webp", Width: 256, Height: 256, Size: len(webp)}}); err != nil {
		t.Fatal(err)
	}
	waSticker, err := erin.WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageKind(m) == wasim.KindSticker })
	if err != nil {
		t.Fatalf("WhatsApp never received the sticker: %v", err)
	}
	if got, err := erin.Download(ctx, waSticker.Message); err != nil || !bytes.Equal(got, webp) {
		t.Errorf("contact's download of the sticker: err %v, equal %v", err, bytes.Equal(got, webp))
	}

	// WhatsApp's own animated stickers are Lottie animations no Matrix client plays: the still PNG
	// sent along shows as the sticker, and without one a notice says what was sent.
	var still bytes.Buffer
	if err := png.Encode(&still, image.NewGray(image.Rect(0, 0, 120, 100))); err != nil {
		t.Fatal(err)
	}
	was := randomBytes(t, "PK\x03\x04animation/animation.json", 6_000)
	if _, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindSticker, Data: was, Lottie: true, Thumbnail: still.Bytes()}); err != nil {
		t.Fatal(err)
	}
	lottieEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Type == event.EventSticker && strings.HasPrefix(evt.Content.AsMessage().Body, "Animated sticker")
	})
	if c := lottieEvt.Content.AsMessage(); !strings.Contains(c.Body, "open WhatsApp on your phone") || c.Info == nil ||
		c.Info.MimeType != "image/png" || c.Info.Width != 120 || c.Info.Height != 100 || c.Info.IsAnimated {
		t.Errorf("Lottie sticker shown as %q with info %+v", c.Body, c.Info)
	}
	if got := downloadEventMedia(t, ctx, alice.client, lottieEvt); !bytes.Equal(got, still.Bytes()) {
		t.Error("the Lottie sticker's image is not its still PNG")
	}
	if _, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindSticker, Data: was, Lottie: true}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == erinGhost && c.MsgType == event.MsgNotice && c.Body == "Sent an animated sticker. Open WhatsApp on your phone to see it."
	})
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 100)
	if err != nil {
		t.Fatal(err)
	}
	stickers := 0
	for _, evt := range timeline {
		if c := evt.Content.AsMessage(); evt.Type == event.EventSticker && evt.Sender == erinGhost {
			stickers++
			if c.Info != nil && c.Info.MimeType == "application/was" {
				t.Errorf("a Lottie file was posted as a sticker image: %+v", c.Info)
			}
		}
	}
	if stickers != 2 { // the animated WebP and the Lottie sticker's still
		t.Errorf("%d stickers from Erin in the room, want 2", stickers)
	}
}
