package tests

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// sendExpired has contact send an attachment that WhatsApp's servers no longer have when the
// bridge downloads it; it returns the message as sent.
func sendExpired(t *testing.T, ctx context.Context, env *waEnv, contact *wasim.Contact, to *loggedInUser, m wasim.Media) *waE2E.Message {
	t.Helper()
	msg, err := wasim.UploadMedia(ctx, contact.Client(), m)
	if err != nil {
		t.Fatal(err)
	}
	if err = env.WA.ExpireMedia(wasim.Attachment(msg).GetDirectPath()); err != nil {
		t.Fatal(err)
	}
	if _, err = contact.Send(ctx, to.acct.JID(), msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

// expiredNotice matches the notice of an expired attachment of the given kind from ghost.
func expiredNotice(ghost id.UserID, kind string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == ghost && evt.Type == event.EventMessage && c.MsgType == event.MsgNotice &&
			strings.HasPrefix(c.Body, "Failed to bridge "+kind+": media is no longer available on WhatsApp.") &&
			c.RelatesTo.GetReplaceID() == ""
	}
}

// replacementOf matches an edit of target from ghost.
func replacementOf(ghost id.UserID, target id.EventID) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == ghost && c.RelatesTo.GetReplaceID() == target && c.NewContent != nil
	}
}

// checkReplacedByFile checks that edit turns the notice into the file data of the given msgtype.
func checkReplacedByFile(t *testing.T, ctx context.Context, alice *loggedInUser, edit *event.Event, msgType event.MessageType, data []byte) {
	t.Helper()
	nc := edit.Content.AsMessage().NewContent
	if nc.MsgType != msgType || nc.URL == "" || nc.Info == nil || nc.Info.Size != len(data) {
		t.Fatalf("replacement of the notice = %s (url %q, info %+v), want %s of %d bytes", nc.MsgType, nc.URL, nc.Info, msgType, len(data))
	}
	uri, err := nc.URL.Parse()
	if err != nil {
		t.Fatal(err)
	}
	got, err := alice.client.DownloadBytes(ctx, uri)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file of the replacement: err %v, equal to the sent file %v", err, bytes.Equal(got, data))
	}
}

// TestExpiredMedia: an attachment WhatsApp no longer has is shown as a notice, the user's phone is
// asked to upload it again, and the file then replaces the notice; when the phone does not have it
// either the notice says so. With bridge.request_expired_media off the phone is asked only when the
// user reacts to the notice with ♻️ or replies to it with the request-media command, and that
// reaction is not sent to WhatsApp as a reaction.
func TestExpiredMedia(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340051")
	dave, daveGhost := newContact(t, ctx, env, "4917600000051", "Dave")

	// Automatic: the phone uploads the video again and it replaces the notice.
	video := randomBytes(t, "video", 20_000)
	sendExpired(t, ctx, env, dave, alice, wasim.Media{Kind: wasim.KindVideo, Data: video, Caption: "Our trip"})
	dm := joinPortal(t, ctx, env, alice.client, daveGhost)
	notice := env.WaitForMessage(ctx, alice.client, dm, expiredNotice(daveGhost, "video"))
	edit := env.WaitForMessage(ctx, alice.client, dm, replacementOf(daveGhost, notice.ID))
	checkReplacedByFile(t, ctx, alice, edit, event.MsgVideo, video)
	if body := edit.Content.AsMessage().NewContent.Body; body != "Our trip" {
		t.Errorf("caption of the replacement = %q, want %q", body, "Our trip")
	}

	// The file is gone from the phone as well: the notice says so.
	gone, err := wasim.UploadMedia(ctx, dave.Client(), wasim.Media{Kind: wasim.KindImage, Data: randomBytes(t, "\xff\xd8\xff\xe0 gone", 5_000)})
	if err != nil {
		t.Fatal(err)
	}
	img := gone.GetImageMessage()
	if err = dave.Client().DeleteMedia(ctx, whatsmeow.MediaImage, img.GetDirectPath(), img.GetFileEncSHA256(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err = dave.Send(ctx, alice.acct.JID(), gone); err != nil {
		t.Fatal(err)
	}
	goneNotice := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == daveGhost && strings.HasPrefix(evt.Content.AsMessage().Body, "Failed to bridge image: media is no longer available")
	})
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return replacementOf(daveGhost, goneNotice.ID)(evt) && c.NewContent.MsgType == event.MsgNotice &&
			c.NewContent.Body == "Failed to bridge image: it is no longer available on WhatsApp, and your phone no longer has it either."
	})

	// On request only.
	env.UpdateBridgeConfig(func(cfg map[string]any) { e2e.SetConfig(cfg, "bridge.request_expired_media", false) })
	env.RestartBridge()
	voice := randomBytes(t, "OggS voice", 6_000)
	sendExpired(t, ctx, env, dave, alice, wasim.Media{Kind: wasim.KindPTT, Data: voice})
	voiceNotice := env.WaitForMessage(ctx, alice.client, dm, expiredNotice(daveGhost, "voice message"))
	if body := voiceNotice.Content.AsMessage().Body; !strings.HasSuffix(body, "React with ♻️ to ask your phone to upload it again.") {
		t.Errorf("notice without automatic request = %q, want the hint to react", body)
	}
	// A later message arrives while nothing replaced the notice: the phone was not asked.
	if _, err = dave.SendText(ctx, alice.acct.JID(), "did you get it?"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(daveGhost, "did you get it?"))
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if replacementOf(daveGhost, voiceNotice.ID)(evt) {
			t.Fatalf("the notice was replaced without a request: %s", evt.Content.VeryRaw)
		}
	}
	if _, err = alice.client.SendReaction(ctx, dm, voiceNotice.ID, "\u267b\ufe0f"); err != nil {
		t.Fatal(err)
	}
	edit = env.WaitForMessage(ctx, alice.client, dm, replacementOf(daveGhost, voiceNotice.ID))
	checkReplacedByFile(t, ctx, alice, edit, event.MsgAudio, voice)

	doc := randomBytes(t, "%PDF-1.4 expired", 9_000)
	sendExpired(t, ctx, env, dave, alice, wasim.Media{Kind: wasim.KindDocument, Data: doc, MimeType: "application/pdf", FileName: "plan.pdf"})
	docNotice := env.WaitForMessage(ctx, alice.client, dm, expiredNotice(daveGhost, "document"))
	if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "!wa request-media",
		RelatesTo: (&event.RelatesTo{}).SetReplyTo(docNotice.ID),
	}); err != nil {
		t.Fatal(err)
	}
	edit = env.WaitForMessage(ctx, alice.client, dm, replacementOf(daveGhost, docNotice.ID))
	checkReplacedByFile(t, ctx, alice, edit, event.MsgFile, doc)
	if name := edit.Content.AsMessage().NewContent.Body; name != "plan.pdf" {
		t.Errorf("file name of the replacement = %q, want plan.pdf", name)
	}

	// Neither the ♻️ reaction nor the command reached WhatsApp.
	for _, evt := range dave.All() {
		if msg, ok := evt.(*events.Message); ok && (msg.Message.GetReactionMessage() != nil || strings.Contains(msg.Message.GetConversation(), "request-media")) {
			t.Errorf("the media request reached the contact: %v", msg.Message)
		}
	}
}
