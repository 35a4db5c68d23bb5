package tests

import (
	"bytes"
	"context"
	"image"
	_ "image/png" // QR codes are posted as PNG
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// waEnv is a test environment with the WhatsApp side: a wasim server the bridge is configured to
// use, besides Dendrite and the bridge binary.
type waEnv struct {
	*e2e.Env
	WA *wasim.Server
}

// newWAEnv starts wasim, then Dendrite and the bridge pointed at it. patch may change the bridge
// config further.
func newWAEnv(t testing.TB, dialect testdb.Dialect, patch func(cfg map[string]any)) *waEnv {
	t.Helper()
	return newWAEnvWith(t, e2e.Options{Database: dialect}, patch)
}

// newWAEnvWith is newWAEnv with more of the environment's options (opts.Config is replaced).
func newWAEnvWith(t testing.TB, opts e2e.Options, patch func(cfg map[string]any)) *waEnv {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv, err := wasim.New(context.Background(), wasim.Options{Log: &log})
	if err != nil {
		t.Fatalf("failed to start wasim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	opts.Config = func(cfg map[string]any) {
		e2e.SetConfig(cfg, "whatsapp.dial_address", srv.Addr())
		e2e.SetConfig(cfg, "whatsapp.plain_http", true)
		e2e.SetConfig(cfg, "whatsapp.noise_root_pubkey", srv.RootPublicKeyHex())
		if patch != nil {
			patch(cfg)
		}
	}
	return &waEnv{Env: e2e.New(t, opts), WA: srv}
}

// decodeQR downloads the QR image the bot posted and decodes it, as a phone camera would.
func decodeQR(t testing.TB, ctx context.Context, client *mautrix.Client, evt *event.Event) string {
	t.Helper()
	content := evt.Content.AsMessage()
	if content.MsgType != event.MsgImage {
		t.Fatalf("QR event is %s, not an image", content.MsgType)
	}
	uri, err := content.URL.Parse()
	if err != nil {
		t.Fatalf("QR image has a bad URL %q: %v", content.URL, err)
	}
	data, err := client.DownloadBytes(ctx, uri)
	if err != nil {
		t.Fatalf("failed to download QR image: %v", err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("QR image is not a picture: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// The posted image is a generated code (no perspective, no noise), which gozxing reads best in
	// pure-barcode mode; its finder-pattern search is the fallback.
	var result *gozxing.Result
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_PURE_BARCODE: true},
		{gozxing.DecodeHintType_TRY_HARDER: true},
	} {
		if result, err = qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return result.GetText()
		}
	}
	t.Fatalf("failed to decode QR image: %v", err)
	return ""
}

func isBotImage(env *waEnv) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Sender == env.BotMXID() && evt.Type == event.EventMessage &&
			evt.Content.AsMessage().MsgType == event.MsgImage && evt.Content.AsMessage().RelatesTo.GetReplaceID() == ""
	}
}

// loginQR logs client in to WhatsApp as acct the way a user does: send `login`, scan the posted QR
// code with the phone, wait for the success message.
func loginQR(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID, acct *wasim.Account) {
	t.Helper()
	earlier := botImagesIn(t, ctx, env, client, room)
	sendText(t, ctx, client, room, "login")
	qrEvt := env.WaitForMessage(ctx, client, room, func(evt *event.Event) bool {
		return isBotImage(env)(evt) && !earlier[evt.ID]
	})
	if err := acct.ScanQR(ctx, decodeQR(t, ctx, client, qrEvt)); err != nil {
		t.Fatalf("phone failed to scan the QR code: %v", err)
	}
	env.WaitForMessage(ctx, client, room, botNotice(env.Env, "Successfully logged in as +"+acct.JID().User))
}

// botImagesIn returns the IDs of the bot's images in the room's latest 200 events: the QR codes of
// earlier logins, which a new login's QR code is told apart from (a login a moment before may have
// posted one within the same second).
func botImagesIn(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID) map[id.EventID]bool {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, client, room, 200)
	if err != nil {
		t.Fatalf("failed to read the room's timeline: %v", err)
	}
	images := make(map[id.EventID]bool)
	for _, evt := range timeline {
		if isBotImage(env)(evt) {
			images[evt.ID] = true
		}
	}
	return images
}

// appStateSyncedNotice is what `status` says once the phone's contacts and chat settings arrived.
const appStateSyncedNotice = "Contacts and chat settings are synced from your phone."

// waitAppStateSynced asks `status` until the bridge says the newly linked device has synced the
// phone's app state (contacts, push name, chat settings), as a user waiting for names would. Tests
// that log the device out or remove it wait for this first: whatsmeow's post-link app-state sync
// reads its device store without a lock while a logout deletes it, a data race inside whatsmeow.
func waitAppStateSynced(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client, room id.RoomID) {
	t.Helper()
	for countNotices(t, ctx, env.Env, client, room, appStateSyncedNotice) == 0 {
		asked := countNotices(t, ctx, env.Env, client, room, "Logged in as")
		sendText(t, ctx, client, room, "status")
		waitForNotices(t, ctx, env.Env, client, room, asked+1, "Logged in as")
		if countNotices(t, ctx, env.Env, client, room, appStateSyncedNotice) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the bridge never said the phone's app state was synced")
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// companionDevice returns the device number of the account's single linked device.
func companionDevice(t testing.TB, acct *wasim.Account) uint16 {
	t.Helper()
	devices := acct.Devices()
	if len(devices) != 2 {
		t.Fatalf("account has devices %v, want the phone and one companion", devices)
	}
	return devices[1].Device
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newContact creates a simulated WhatsApp contact and returns it with the user ID of its ghost.
func newContact(t testing.TB, ctx context.Context, env *waEnv, phone, name string) (*wasim.Contact, id.UserID) {
	t.Helper()
	contact, err := env.WA.CreateContact(ctx, phone, name)
	if err != nil {
		t.Fatalf("failed to create contact %s: %v", name, err)
	}
	return contact, ghostOf(env, phone)
}
