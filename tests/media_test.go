package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// randomBytes returns n random bytes behind a fixed prefix, so that a file is recognisably what
// a test sent and never compresses or matches by accident.
func randomBytes(t testing.TB, prefix string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	return append([]byte(prefix), data...)
}

// downloadEventMedia downloads the attachment of a Matrix media event as client.
func downloadEventMedia(t testing.TB, ctx context.Context, client *mautrix.Client, evt *event.Event) []byte {
	t.Helper()
	uri, err := evt.Content.AsMessage().URL.Parse()
	if err != nil {
		t.Fatalf("event %s has a bad media URL: %v", evt.ID, err)
	}
	data, err := client.DownloadBytes(ctx, uri)
	if err != nil {
		t.Fatalf("failed to download %s: %v", uri, err)
	}
	return data
}

// TestMediaBothWays covers attachments in a 1:1 chat: an image with a caption, a document, a voice
// note and a sticker from WhatsApp arrive as the matching Matrix events with the same bytes, an
// expired file becomes a notice, and an image and a file from Matrix reach the contact intact.
func TestMediaBothWays(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340001")
	dave, daveGhost := newContact(t, ctx, env, "4917600000011", "Dave")

	// WhatsApp -> Matrix.
	image := randomBytes(t, "\xff\xd8\xff\xe0 test image", 40_000)
	if _, err := dave.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindImage, Data: image, Caption: "Look at *this*"}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, daveGhost)
	imgEvt := env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "Look at *this*"))
	img := imgEvt.Content.AsMessage()
	if img.MsgType != event.MsgImage || img.Info == nil || img.Info.MimeType != "image/jpeg" || img.Info.Size != len(image) {
		t.Errorf("image event = %s with info %+v, want m.image image/jpeg of %d bytes", img.MsgType, img.Info, len(image))
	}
	if img.FileName == "" || img.FileName == img.Body || img.FormattedBody != "Look at <strong>this</strong>" {
		t.Errorf("caption not bridged as a caption: filename %q, body %q, formatted %q", img.FileName, img.Body, img.FormattedBody)
	}
	if got := downloadEventMedia(t, ctx, alice.client, imgEvt); !bytes.Equal(got, image) {
		t.Errorf("downloaded image differs from the sent one (%d vs %d bytes)", len(got), len(image))
	}

	doc := randomBytes(t, "%PDF-1.4 report", 120_000)
	if _, err := dave.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindDocument, Data: doc, MimeType: "application/pdf", FileName: "report.pdf"}); err != nil {
		t.Fatal(err)
	}
	docEvt := env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "report.pdf"))
	if c := docEvt.Content.AsMessage(); c.MsgType != event.MsgFile || c.Info == nil || c.Info.MimeType != "application/pdf" {
		t.Errorf("document event = %s with info %+v, want m.file application/pdf", c.MsgType, c.Info)
	}
	if got := downloadEventMedia(t, ctx, alice.client, docEvt); !bytes.Equal(got, doc) {
		t.Errorf("downloaded document differs from the sent one")
	}

	voice := randomBytes(t, "OggS voice", 8_000)
	if _, err := dave.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindPTT, Data: voice}); err != nil {
		t.Fatal(err)
	}
	voiceEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == daveGhost && evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgAudio
	})
	if c := voiceEvt.Content.AsMessage(); c.MSC3245Voice == nil || c.MSC1767Audio == nil {
		t.Errorf("voice note lacks the voice markers: %s", voiceEvt.Content.VeryRaw)
	}
	if got := downloadEventMedia(t, ctx, alice.client, voiceEvt); !bytes.Equal(got, voice) {
		t.Errorf("downloaded voice note differs from the sent one")
	}

	sticker := randomBytes(t, "RIFF\x00\x00\x00\x00WEBPVP8 ", 5_000)
	if _, err := dave.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindSticker, Data: sticker}); err != nil {
		t.Fatal(err)
	}
	stickerEvt := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == daveGhost && evt.Type == event.EventSticker
	})
	if got := downloadEventMedia(t, ctx, alice.client, stickerEvt); !bytes.Equal(got, sticker) {
		t.Errorf("downloaded sticker differs from the sent one")
	}

	// Media WhatsApp no longer has becomes a visible notice instead of vanishing.
	expired, err := wasim.UploadMedia(ctx, dave.Client(), wasim.Media{Kind: wasim.KindVideo, Data: randomBytes(t, "video", 1_000)})
	if err != nil {
		t.Fatal(err)
	}
	if err = env.WA.ExpireMedia(expired.GetVideoMessage().GetDirectPath()); err != nil {
		t.Fatal(err)
	}
	if _, err = dave.Send(ctx, alice.acct.JID(), expired); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, expiredNotice(daveGhost, "video"))

	// Matrix -> WhatsApp.
	photo := randomBytes(t, "\x89PNG\r\n\x1a\n photo", 30_000)
	up, err := alice.client.UploadBytes(ctx, photo, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "Holiday!", FileName: "photo.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(photo), Width: 640, Height: 480},
	})
	gotImg := waitWAKind(t, ctx, dave, wasim.KindImage)
	if c := gotImg.Message.GetImageMessage(); c.GetCaption() != "Holiday!" || c.GetMimetype() != "image/png" || c.GetWidth() != 640 {
		t.Errorf("image message = caption %q, mimetype %q, width %d", c.GetCaption(), c.GetMimetype(), c.GetWidth())
	}
	if got, err := dave.Download(ctx, gotImg.Message); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("contact's download of the image: err %v, equal %v", err, bytes.Equal(got, photo))
	}

	notes := randomBytes(t, "plain notes ", 50_000)
	up, err = alice.client.UploadBytes(ctx, notes, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgFile, Body: "notes.txt", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "text/plain", Size: len(notes)},
	})
	gotDoc := waitWAKind(t, ctx, dave, wasim.KindDocument)
	if c := gotDoc.Message.GetDocumentMessage(); c.GetFileName() != "notes.txt" || c.GetMimetype() != "text/plain" || c.GetCaption() != "" {
		t.Errorf("document message = file name %q, mimetype %q, caption %q", c.GetFileName(), c.GetMimetype(), c.GetCaption())
	}
	if got, err := dave.Download(ctx, gotDoc.Message); err != nil || !bytes.Equal(got, notes) {
		t.Errorf("contact's download of the document: err %v, equal %v", err, bytes.Equal(got, notes))
	}
}

func sendMatrixMedia(t testing.TB, ctx context.Context, client *mautrix.Client, room id.RoomID, content *event.MessageEventContent) {
	t.Helper()
	if _, err := client.SendMessageEvent(ctx, room, event.EventMessage, content); err != nil {
		t.Fatalf("failed to send %s: %v", content.MsgType, err)
	}
}

func waitWAKind(t testing.TB, ctx context.Context, c *wasim.Contact, kind string) *events.Message {
	t.Helper()
	msg, err := c.WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageKind(m) == kind })
	if err != nil {
		t.Fatalf("%s never received a %s: %v", c.JID(), kind, err)
	}
	return msg
}
