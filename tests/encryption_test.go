//go:build goolm

package tests

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// encryptionConfig turns end-to-bridge encryption on; with newRooms, new portals are encrypted.
func encryptionConfig(newRooms bool, more ...func(cfg map[string]any)) func(cfg map[string]any) {
	return func(cfg map[string]any) {
		e2e.SetConfig(cfg, "encryption.allow", true)
		e2e.SetConfig(cfg, "encryption.default", newRooms)
		for _, f := range more {
			f(cfg)
		}
	}
}

// decryptedFrom matches a message sender sent encrypted whose body is body, as the device decrypted it.
func decryptedFrom(sender id.UserID, body string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Sender == sender && evt.Mautrix.WasEncrypted && evt.Type == event.EventMessage && evt.Content.AsMessage().Body == body
	}
}

// serverType returns the type the homeserver stores eventID as (m.room.encrypted when encrypted).
// Dendrite can answer M_NOT_FOUND for a moment after another device's send returned (the event is
// persisted by its roomserver asynchronously), so a not-found is retried for up to 20 s.
func serverType(t testing.TB, ctx context.Context, client *mautrix.Client, room id.RoomID, eventID id.EventID) event.Type {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evt, err := client.GetEvent(ctx, room, eventID)
		if err == nil {
			return evt.Type
		}
		if !errors.Is(err, mautrix.MNotFound) || time.Now().After(deadline) {
			t.Fatalf("failed to read %s from the homeserver: %v", eventID, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("failed to read %s from the homeserver: %v", eventID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// encryptedChat is one encrypted portal under test: the Matrix user's encrypting device, the room,
// the WhatsApp contact, its ghost and the WhatsApp chat it writes to.
type encryptedChat struct {
	env     *waEnv
	alice   *loggedInUser
	dev     *e2e.CryptoClient
	room    id.RoomID
	contact *wasim.Contact
	ghost   id.UserID
	chat    types.JID
}

// waText sends text from the contact and waits for the device to decrypt it; it returns the
// Matrix event and the WhatsApp message ID.
func (c *encryptedChat) waText(t *testing.T, ctx context.Context, text string) (*event.Event, types.MessageID) {
	t.Helper()
	waID, err := c.contact.SendText(ctx, c.chat, text)
	if err != nil {
		t.Fatal(err)
	}
	evt := c.dev.WaitFor(ctx, c.room, decryptedFrom(c.ghost, text))
	if typ := serverType(t, ctx, c.alice.client, c.room, evt.ID); typ != event.EventEncrypted {
		t.Errorf("the ghost's message is stored as %s, want m.room.encrypted", typ.Type)
	}
	return evt, waID
}

// mxText sends text encrypted from the device and waits for the contact to receive it.
func (c *encryptedChat) mxText(t *testing.T, ctx context.Context, text string) (id.EventID, *events.Message) {
	t.Helper()
	resp, err := c.dev.SendText(ctx, c.room, text)
	if err != nil {
		t.Fatalf("failed to send %q: %v", text, err)
	}
	if typ := serverType(t, ctx, c.alice.client, c.room, resp.EventID); typ != event.EventEncrypted {
		t.Fatalf("the device sent %q as %s, not encrypted", text, typ.Type)
	}
	return resp.EventID, waitWAText(t, ctx, c.contact, text)
}

// exchange covers text, an edit, a reaction and an image in both directions.
func (c *encryptedChat) exchange(t *testing.T, ctx context.Context, tag string) {
	t.Helper()
	waEvt, waID := c.waText(t, ctx, "from WhatsApp "+tag)
	mxID, got := c.mxText(t, ctx, "from Matrix "+tag)

	// Matrix -> WhatsApp edit and (encrypted, as Element sends them) reaction.
	if _, err := c.dev.SendMessageEvent(ctx, c.room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "* edited " + tag,
		NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "edited " + tag},
		RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: mxID},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.contact.WaitMessage(ctx, func(m *events.Message) bool {
		pm := m.Message.GetProtocolMessage()
		return pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && pm.GetKey().GetID() == got.Info.ID &&
			pm.GetEditedMessage().GetConversation() == "edited "+tag
	}); err != nil {
		t.Fatalf("edit did not reach WhatsApp: %v", err)
	}
	if _, err := c.dev.SendEncrypted(ctx, c.room, event.EventReaction, &event.ReactionEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: waEvt.ID, Key: "👍"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.contact.WaitMessage(ctx, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return r.GetKey().GetID() == waID && r.GetText() == "👍"
	}); err != nil {
		t.Fatalf("reaction did not reach WhatsApp: %v", err)
	}

	// WhatsApp -> Matrix edit and reaction.
	if _, err := c.contact.Send(ctx, c.chat, c.contact.Client().BuildEdit(c.chat, waID, &waE2E.Message{Conversation: proto.String("edited on WhatsApp " + tag)})); err != nil {
		t.Fatal(err)
	}
	c.dev.WaitFor(ctx, c.room, func(evt *event.Event) bool {
		content := evt.Content.AsMessage()
		return evt.Sender == c.ghost && evt.Mautrix.WasEncrypted && content.RelatesTo.GetReplaceID() == waEvt.ID &&
			content.NewContent != nil && content.NewContent.Body == "edited on WhatsApp "+tag
	})
	mine := c.alice.acct.JID()
	if c.chat.Server == types.GroupServer {
		mine = got.Info.Sender.ToNonAD()
	}
	if _, err := c.contact.Send(ctx, c.chat, c.contact.Client().BuildReaction(c.chat, mine, got.Info.ID, "❤️")); err != nil {
		t.Fatal(err)
	}
	c.dev.WaitFor(ctx, c.room, func(evt *event.Event) bool {
		rel := evt.Content.AsReaction().RelatesTo
		return evt.Type == event.EventReaction && evt.Sender == c.ghost && rel.EventID == mxID && rel.Key == "❤️"
	})

	// WhatsApp -> Matrix image: an encrypted file.
	image := randomBytes(t, "\xff\xd8\xff\xe0 encrypted image "+tag, 20_000)
	if _, err := c.contact.SendMedia(ctx, c.chat, wasim.Media{Kind: wasim.KindImage, Data: image}); err != nil {
		t.Fatal(err)
	}
	imgEvt := c.dev.WaitFor(ctx, c.room, func(evt *event.Event) bool {
		return evt.Sender == c.ghost && evt.Mautrix.WasEncrypted && evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgImage
	})
	content := imgEvt.Content.AsMessage()
	if content.File == nil || content.URL != "" {
		t.Fatalf("image in an encrypted room has url %q and file %v, want an encrypted file only", content.URL, content.File)
	}
	uri, err := content.File.URL.Parse()
	if err != nil {
		t.Fatal(err)
	}
	ciphertext, err := c.dev.DownloadBytes(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ciphertext, image[:30]) {
		t.Error("the homeserver holds the image in the clear")
	}
	if err = content.File.DecryptInPlace(ciphertext); err != nil || !bytes.Equal(ciphertext, image) {
		t.Errorf("decrypted image: err %v, equal %v", err, bytes.Equal(ciphertext, image))
	}

	// Matrix -> WhatsApp image, uploaded as an encrypted file.
	photo := randomBytes(t, "\x89PNG\r\n\x1a\n encrypted photo "+tag, 20_000)
	file := attachment.NewEncryptedFile()
	ciphertext = bytes.Clone(photo)
	file.EncryptInPlace(ciphertext)
	up, err := c.dev.UploadBytes(ctx, ciphertext, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.dev.SendMessageEvent(ctx, c.room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "photo.png",
		File: &event.EncryptedFileInfo{EncryptedFile: *file, URL: up.ContentURI.CUString()},
		Info: &event.FileInfo{MimeType: "image/png", Size: len(photo), Width: 64, Height: 48},
	}); err != nil {
		t.Fatal(err)
	}
	gotImg, err := c.contact.WaitMessage(ctx, func(m *events.Message) bool {
		return wasim.MessageKind(m) == wasim.KindImage && m.Message.GetImageMessage().GetFileLength() == uint64(len(photo))
	})
	if err != nil {
		t.Fatalf("image did not reach WhatsApp: %v", err)
	}
	if data, err := c.contact.Download(ctx, gotImg.Message); err != nil || !bytes.Equal(data, photo) {
		t.Errorf("contact's download of the image: err %v, equal %v", err, bytes.Equal(data, photo))
	}
}

// botDevices returns the bridge bot's devices as alice's client sees them.
func botDevices(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client) []id.DeviceID {
	t.Helper()
	resp, err := client.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{env.BotMXID(): {}}})
	if err != nil {
		t.Fatal(err)
	}
	var devices []id.DeviceID
	for deviceID := range resp.DeviceKeys[env.BotMXID()] {
		devices = append(devices, deviceID)
	}
	return devices
}

// TestEncryptedDirectChat covers a DM portal created encrypted (encryption.default): text, edits,
// reactions and images flow both ways with a real encrypting Matrix client, nothing in the clear on
// the homeserver, and after a bridge restart the same bridge device still decrypts and encrypts.
func TestEncryptedDirectChat(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, encryptionConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350001")
	dev := env.NewCryptoClient(t, alice.client.UserID, "alice's phone")
	carol, carolGhost := newContact(t, ctx, env, "4917600000201", "Carol")
	devices := botDevices(t, ctx, env, alice.client)
	if len(devices) != 1 {
		t.Fatalf("bridge bot has devices %v, want one with keys", devices)
	}

	if _, err := carol.SendText(ctx, alice.acct.JID(), "first"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	dev.WaitFor(ctx, dm, decryptedFrom(carolGhost, "first"))
	dev.WaitEncrypted(ctx, dm)
	chat := &encryptedChat{env: env, alice: alice, dev: dev, room: dm, contact: carol, ghost: carolGhost, chat: alice.acct.JID()}
	chat.exchange(t, ctx, "before restart")

	env.RestartBridge()
	if after := botDevices(t, ctx, env, alice.client); len(after) != 1 || after[0] != devices[0] {
		t.Errorf("bot devices after restart = %v, want the same device %s", after, devices[0])
	}
	// The sessions from before the restart still work both ways.
	chat.waText(t, ctx, "after restart from WhatsApp")
	chat.mxText(t, ctx, "after restart from Matrix")
}

// TestEncryptionEnabledInGroup covers a group portal created unencrypted (encryption.allow without
// encryption.default) in which the user turns encryption on: the bridge confirms it, and from then
// on text, edits, reactions and images flow both ways encrypted.
func TestEncryptionEnabledInGroup(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, encryptionConfig(false))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350002")
	dev := env.NewCryptoClient(t, alice.client.UserID, "alice's laptop")
	carol, carolGhost := newContact(t, ctx, env, "4917600000202", "Carol")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Encrypted plans", alice.acct)
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	if _, err = carol.SendText(ctx, group, "still in the clear"); err != nil {
		t.Fatal(err)
	}
	plain := dev.WaitFor(ctx, room, func(evt *event.Event) bool {
		return evt.Sender == carolGhost && evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "still in the clear"
	})
	if plain.Mautrix.WasEncrypted {
		t.Error("a message in a portal without encryption arrived encrypted")
	}

	if _, err = alice.client.SendStateEvent(ctx, room, event.StateEncryption, "", &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}); err != nil {
		t.Fatal(err)
	}
	dev.WaitFor(ctx, room, decryptedFrom(env.BotMXID(), "Encryption is on: messages from WhatsApp are encrypted in this room from now on."))
	dev.WaitEncrypted(ctx, room)
	chat := &encryptedChat{env: env, alice: alice, dev: dev, room: room, contact: carol, ghost: carolGhost, chat: group}
	chat.exchange(t, ctx, "in the group")
}

// newEncryptedDM opens an encrypted DM portal: carol writes first, alice joins, and dev decrypts
// the first message.
func newEncryptedDM(t *testing.T, ctx context.Context, env *waEnv, alice *loggedInUser, dev *e2e.CryptoClient, carol *wasim.Contact, carolGhost id.UserID) id.RoomID {
	t.Helper()
	if _, err := carol.SendText(ctx, alice.acct.JID(), "hello"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	dev.WaitFor(ctx, dm, decryptedFrom(carolGhost, "hello"))
	dev.WaitEncrypted(ctx, dm)
	return dm
}

// TestEncryptedMessageBridgedWhenKeyArrives covers a Matrix message whose room key reaches the
// bridge late: the room is told that it could not be decrypted yet, the bridge asks the sender's
// devices for the key, and once a device forwards it the message reaches WhatsApp and the notice
// is redacted. With encryption.require, a message sent unencrypted is refused with a notice.
func TestEncryptedMessageBridgedWhenKeyArrives(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, encryptionConfig(true, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "encryption.require", true)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350003")
	dev := env.NewCryptoClient(t, alice.client.UserID, "alice's tablet")
	carol, carolGhost := newContact(t, ctx, env, "4917600000203", "Carol")
	dm := newEncryptedDM(t, ctx, env, alice, dev, carol, carolGhost)

	// A new outbound session the device shares with nobody: the bridge can get its key only by
	// asking for it. The device holds the bridge's request back until the test lets it answer.
	mach := dev.Machine()
	if err := mach.CryptoStore.RemoveOutboundGroupSession(ctx, dm); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareGroupSession(ctx, dm, nil); err != nil {
		t.Fatal(err)
	}
	var request atomic.Pointer[event.RoomKeyRequestEventContent]
	dev.SetKeyShare(func(_ context.Context, device *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
		if device.UserID == env.BotMXID() {
			request.Store(&event.RoomKeyRequestEventContent{Action: event.KeyRequestActionRequest, Body: info,
				RequestID: "held-by-test", RequestingDeviceID: device.DeviceID})
		}
		return &crypto.KeyShareRejectNoResponse
	})
	if _, err := dev.SendText(ctx, dm, "sent before its key"); err != nil {
		t.Fatal(err)
	}
	notice := dev.WaitFor(ctx, dm, decryptedFrom(env.BotMXID(),
		"Your message could not be decrypted yet: the bridge has not received its key. It will be bridged as soon as the key arrives."))
	waitFor(t, ctx, "the bridge's key request", func() bool { return request.Load() != nil })

	dev.SetKeyShare(func(_ context.Context, device *id.Device, _ event.RequestedKeyInfo) *crypto.KeyShareRejection {
		if device.UserID == env.BotMXID() {
			return nil
		}
		return &crypto.KeyShareRejectNoResponse
	})
	mach.HandleRoomKeyRequest(ctx, env.BotMXID(), request.Load())
	waitWAText(t, ctx, carol, "sent before its key")
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(notice.ID))

	// encryption.require: what a client sends unencrypted is not bridged, and the sender is told.
	sendText(t, ctx, alice.client, dm, "sent in the clear")
	dev.WaitFor(ctx, dm, decryptedFrom(env.BotMXID(),
		"Your message was not bridged: this bridge only bridges encrypted messages. Enable encryption in this room."))
	chat := &encryptedChat{env: env, alice: alice, dev: dev, room: dm, contact: carol, ghost: carolGhost, chat: alice.acct.JID()}
	chat.mxText(t, ctx, "encrypted after the refused one")
	if n := carol.Count(func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && wasim.MessageText(msg) == "sent in the clear"
	}); n != 0 {
		t.Errorf("the unencrypted message reached WhatsApp %d times", n)
	}
}

// TestEncryptionKeysOnlyForVerifiedDevices covers encryption.verified_only: of two devices of the
// same user, the one cross-signed by its owner decrypts what the ghost sends, the unverified one
// gets no key.
func TestEncryptionKeysOnlyForVerifiedDevices(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, encryptionConfig(true, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "encryption.verified_only", true)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350004")
	verified := env.NewCryptoClient(t, alice.client.UserID, "alice's verified phone")
	unverified := env.NewCryptoClient(t, alice.client.UserID, "alice's new laptop")
	_, _, err := verified.Machine().GenerateAndUploadCrossSigningKeys(ctx, func(uia *mautrix.RespUserInteractive) any {
		return &mautrix.ReqUIAuthLogin{
			BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: uia.Session},
			User:         alice.client.UserID.String(), Password: env.Password(alice.client.UserID),
		}
	}, "")
	if err != nil {
		t.Fatalf("failed to create alice's cross-signing keys: %v", err)
	}
	if err = verified.Machine().SignOwnDevice(ctx, verified.Machine().OwnIdentity()); err != nil {
		t.Fatalf("failed to sign alice's device: %v", err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000204", "Carol")
	if _, err = carol.SendText(ctx, alice.acct.JID(), "for verified eyes"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	msg := verified.WaitFor(ctx, dm, decryptedFrom(carolGhost, "for verified eyes"))
	if err = unverified.WaitDecryptFailure(ctx, msg.ID); err == nil {
		t.Fatal("no decryption error reported")
	}
	if unverified.Decrypted(msg.ID) {
		t.Error("the unverified device decrypted the message")
	}
}

// TestNewDeviceReadsWhatFollows: when a Matrix user signs in on a new device, the bridge's next
// encrypted message in the user's portals comes in a new Megolm session shared with that device
// too, so the device reads it at once instead of having to ask for the key.
func TestNewDeviceReadsWhatFollows(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, encryptionConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350012")
	phone := env.NewCryptoClient(t, alice.client.UserID, "alice's phone")
	carol, carolGhost := newContact(t, ctx, env, "4917600000212", "Carol")
	dm := newEncryptedDM(t, ctx, env, alice, phone, carol, carolGhost)
	chat := &encryptedChat{env: env, alice: alice, dev: phone, room: dm, contact: carol, ghost: carolGhost, chat: alice.acct.JID()}
	before, _ := chat.waText(t, ctx, "before the new device")
	oldSession := sessionOf(t, ctx, alice.client, dm, before.ID)

	laptop := env.NewCryptoClient(t, alice.client.UserID, "alice's laptop")
	laptop.WaitEncrypted(ctx, dm)
	// The bridge learns of the new device through its own sync, a moment after the sign-in; Carol
	// writes every half second until the laptop decrypts a message in a new session (well before
	// the session's own rotation after 100 messages).
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatal("the bridge kept the Megolm session it had before alice's new device for 40 messages")
		}
		text := "after the new device " + strconv.Itoa(i)
		evt, _ := chat.waText(t, ctx, text)
		if sessionOf(t, ctx, alice.client, dm, evt.ID) == oldSession {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		waitCtx, waitCancel := context.WithTimeout(ctx, 5*time.Second)
		laptop.WaitFor(waitCtx, dm, decryptedFrom(carolGhost, text))
		waitCancel()
		break
	}
}

// sessionOf returns the Megolm session eventID was encrypted in, as the homeserver stores it.
func sessionOf(t *testing.T, ctx context.Context, client *mautrix.Client, room id.RoomID, eventID id.EventID) id.SessionID {
	t.Helper()
	evt, err := client.GetEvent(ctx, room, eventID)
	if err != nil {
		t.Fatalf("failed to read %s: %v", eventID, err)
	}
	if err = evt.Content.ParseRaw(evt.Type); err != nil {
		t.Fatalf("failed to parse %s: %v", eventID, err)
	}
	return evt.Content.AsEncrypted().SessionID
}
