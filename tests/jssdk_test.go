//go:build goolm

package tests

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// jsDecrypted matches a message sender sent encrypted whose body is body, as the js-sdk client
// decrypted it.
func jsDecrypted(sender string, body string) func(*e2e.JSEvent) bool {
	return func(evt *e2e.JSEvent) bool {
		return evt.Sender.String() == sender && evt.Encrypted && evt.DecryptionFailure == "" &&
			evt.Type == event.EventMessage.Type && evt.Event().Content.AsMessage().Body == body
	}
}

// TestEncryptedDirectChatJSSDK covers an encrypted DM portal with a user on matrix-js-sdk and its
// Rust crypto (the crypto Element Web runs): text, an edit, a reaction and an image flow both
// ways, the client decrypts everything the bridge sends, messages and files go to the homeserver
// encrypted, and all of it goes on after a bridge restart.
func TestEncryptedDirectChatJSSDK(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, encryptionConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350011")
	js := env.NewJSClient(t, alice.client.UserID, "alice's browser")
	carol, carolGhost := newContact(t, ctx, env, "4917600000211", "Carol")
	ghost := carolGhost.String()

	// WhatsApp -> Matrix: the first message creates the encrypted portal.
	hiID, err := carol.SendText(ctx, alice.acct.JID(), "hello from WhatsApp")
	if err != nil {
		t.Fatal(err)
	}
	dm := env.WaitForInvite(ctx, alice.client, carolGhost)
	if err = js.Join(ctx, dm); err != nil {
		t.Fatal(err)
	}
	hi := js.WaitFor(ctx, dm, jsDecrypted(ghost, "hello from WhatsApp"))
	if typ := serverType(t, ctx, alice.client, dm, hi.ID); typ != event.EventEncrypted {
		t.Errorf("the ghost's message is stored as %s, want m.room.encrypted", typ.Type)
	}
	if encrypted, err := js.RoomEncrypted(ctx, dm); err != nil || !encrypted {
		t.Fatalf("the js-sdk client does not encrypt in the portal (encrypted %v, err %v)", encrypted, err)
	}

	// Matrix -> WhatsApp text, sent encrypted by the SDK.
	mxID, err := js.Send(ctx, dm, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "hello from js-sdk"})
	if err != nil {
		t.Fatal(err)
	}
	if typ := serverType(t, ctx, alice.client, dm, mxID); typ != event.EventEncrypted {
		t.Fatalf("the js-sdk client sent its message as %s, not encrypted", typ.Type)
	}
	got := waitWAText(t, ctx, carol, "hello from js-sdk")

	// Matrix -> WhatsApp edit (encrypted) and reaction (which matrix-js-sdk, like Element, sends in
	// the clear even in encrypted rooms: its relation is unencrypted anyway).
	if _, err = js.Send(ctx, dm, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "* edited in js-sdk",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "edited in js-sdk"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": mxID},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && pm.GetKey().GetID() == got.Info.ID &&
			pm.GetEditedMessage().GetConversation() == "edited in js-sdk"
	}); err != nil {
		t.Fatalf("the edit did not reach WhatsApp: %v", err)
	}
	if _, err = js.Send(ctx, dm, event.EventReaction, map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": hi.ID, "key": "👍"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r.GetKey().GetID() == hiID && r.GetText() == "👍"
	}); err != nil {
		t.Fatalf("the reaction did not reach WhatsApp: %v", err)
	}

	// WhatsApp -> Matrix edit and reaction.
	if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildEdit(alice.acct.JID(), hiID, &waE2E.Message{Conversation: proto.String("edited on WhatsApp")})); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, func(evt *e2e.JSEvent) bool {
		content := evt.Event().Content.AsMessage()
		return evt.Sender == carolGhost && evt.Encrypted && content.RelatesTo.GetReplaceID() == hi.ID &&
			content.NewContent != nil && content.NewContent.Body == "edited on WhatsApp"
	})
	if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildReaction(alice.acct.JID(), alice.acct.JID(), got.Info.ID, "❤️")); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, func(evt *e2e.JSEvent) bool {
		if evt.Type != event.EventReaction.Type || evt.Sender != carolGhost {
			return false
		}
		rel := evt.Event().Content.AsReaction().RelatesTo
		return rel.EventID == mxID && rel.Key == "❤️"
	})

	// WhatsApp -> Matrix image: an encrypted file the client decrypts.
	image := randomBytes(t, "\xff\xd8\xff\xe0 image for js-sdk", 20_000)
	if _, err = carol.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindImage, Data: image}); err != nil {
		t.Fatal(err)
	}
	imgEvt := js.WaitFor(ctx, dm, func(evt *e2e.JSEvent) bool {
		return evt.Sender == carolGhost && evt.Encrypted && evt.Type == event.EventMessage.Type &&
			evt.Event().Content.AsMessage().MsgType == event.MsgImage
	})
	content := imgEvt.Event().Content.AsMessage()
	if content.File == nil || content.URL != "" {
		t.Fatalf("image in an encrypted room has url %q and file %v, want an encrypted file only", content.URL, content.File)
	}
	data, err := js.DownloadFile(ctx, content.File)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, image) {
		t.Errorf("the js-sdk client decrypted %d bytes that differ from the %d sent", len(data), len(image))
	}

	// Matrix -> WhatsApp image, uploaded as an encrypted file.
	photo := randomBytes(t, "\x89PNG\r\n\x1a\n photo from js-sdk", 20_000)
	if _, err = js.SendImage(ctx, dm, photo, "image/png", "photo.png"); err != nil {
		t.Fatal(err)
	}
	gotImg, err := carol.WaitMessage(ctx, func(m *events.Message) bool {
		return wasim.MessageKind(m) == wasim.KindImage && m.Message.GetImageMessage().GetFileLength() == uint64(len(photo))
	})
	if err != nil {
		t.Fatalf("the image did not reach WhatsApp: %v", err)
	}
	if data, err := carol.Download(ctx, gotImg.Message); err != nil || !bytes.Equal(data, photo) {
		t.Errorf("contact's download of the image: err %v, equal %v", err, bytes.Equal(data, photo))
	}

	// After a bridge restart the same bridge device goes on decrypting and encrypting.
	env.RestartBridge()
	if _, err = carol.SendText(ctx, alice.acct.JID(), "after restart from WhatsApp"); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, jsDecrypted(ghost, "after restart from WhatsApp"))
	if _, err = js.Send(ctx, dm, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "after restart from js-sdk"}); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "after restart from js-sdk")
}
