package tests

import (
	"bytes"
	"context"
	"image/jpeg"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testimage"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestThumbnailsBothWays: a WhatsApp image's inline JPEG preview becomes its Matrix thumbnail
// (thumbnail_url with thumbnail_info); a Matrix image reaches WhatsApp with a small JPEG preview
// made of it, and a Matrix video with its thumbnail as the preview.
func TestThumbnailsBothWays(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340161")
	dave, daveGhost := newContact(t, ctx, env, "4917600000161", "Dave")

	preview := testimage.Gradient(t, 48, 36, true)
	if _, err := dave.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindImage, Data: testimage.Gradient(t, 320, 240, true), Caption: "the view", Thumbnail: preview}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, daveGhost)
	info := env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "the view")).Content.AsMessage().Info
	if info == nil || info.ThumbnailURL == "" || info.ThumbnailInfo == nil {
		t.Fatalf("the image has no thumbnail: info %+v", info)
	}
	if ti := info.ThumbnailInfo; ti.MimeType != "image/jpeg" || ti.Width != 48 || ti.Height != 36 || ti.Size != len(preview) {
		t.Errorf("thumbnail_info %+v, want a 48x36 JPEG of %d bytes", ti, len(preview))
	}
	uri, err := info.ThumbnailURL.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := alice.client.DownloadBytes(ctx, uri); err != nil || !bytes.Equal(got, preview) {
		t.Errorf("the thumbnail in Matrix is not WhatsApp's preview (%v)", err)
	}

	photo := testimage.Gradient(t, 300, 200, false)
	up, err := alice.client.UploadBytes(ctx, photo, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "photo.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(photo), Width: 300, Height: 200},
	})
	gotImg := waitWAKind(t, ctx, dave, wasim.KindImage)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(gotImg.Message.GetImageMessage().GetJPEGThumbnail())); err != nil || cfg.Width != 100 || cfg.Height != 66 {
		t.Errorf("the image's preview on WhatsApp: %dx%d (%v), want a 100x66 JPEG", cfg.Width, cfg.Height, err)
	}

	still := testimage.Gradient(t, 64, 48, false)
	thumbUp, err := alice.client.UploadBytes(ctx, still, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	clip := randomBytes(t, "\x00\x00\x00\x18ftypmp42", 20_000)
	clipUp, err := alice.client.UploadBytes(ctx, clip, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgVideo, Body: "clip.mp4", URL: clipUp.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "video/mp4", Size: len(clip), ThumbnailURL: thumbUp.ContentURI.CUString(),
			ThumbnailInfo: &event.FileInfo{MimeType: "image/png", Width: 64, Height: 48}},
	})
	gotVideo := waitWAKind(t, ctx, dave, wasim.KindVideo)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(gotVideo.Message.GetVideoMessage().GetJPEGThumbnail())); err != nil || cfg.Width != 64 || cfg.Height != 48 {
		t.Errorf("the video's preview on WhatsApp: %dx%d (%v), want the 64x48 Matrix thumbnail as JPEG", cfg.Width, cfg.Height, err)
	}
}
