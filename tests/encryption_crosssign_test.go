//go:build goolm

package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestBridgeDeviceCrossSigned covers encryption.self_sign on Dendrite, which demands the bot
// account's password before it takes cross-signing keys: without encryption.self_sign_password
// the bridge works with an unsigned device and logs what is missing; once the homeserver's admin
// has given the bot a password and the bridge has it, the bridge creates the bot's cross-signing
// keys on its next start and signs its device, and a js-sdk client (Rust crypto, as Element) then
// shows the bridge device as signed by its owner. Encrypted messages flow before and after, and the
// password never appears in the bridge's log.
func TestBridgeDeviceCrossSigned(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, encryptionConfig(true, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "encryption.self_sign", true)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350021")
	js := env.NewJSClient(t, alice.client.UserID, "alice's browser")
	carol, carolGhost := newContact(t, ctx, env, "4917600000221", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "before signing"); err != nil {
		t.Fatal(err)
	}
	dm := env.WaitForInvite(ctx, alice.client, carolGhost)
	if err := js.Join(ctx, dm); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, jsDecrypted(carolGhost.String(), "before signing"))

	devices := botDevices(t, ctx, env, alice.client)
	if len(devices) != 1 {
		t.Fatalf("bridge bot has devices %v, want one", devices)
	}
	bot, device := env.BotMXID(), devices[0]
	var status e2e.JSDeviceStatus
	waitFor(t, ctx, "the js-sdk client to know the bridge device", func() bool {
		var err error
		status, err = js.DeviceStatus(ctx, bot, device)
		return err == nil && status.Known
	})
	if status.SignedByOwner {
		t.Fatalf("bridge device without a password to upload cross-signing keys: %+v, want unsigned", status)
	}
	if log, err := os.ReadFile(env.BridgeLogPath()); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(string(log), "set encryption.self_sign_password") {
		t.Error("the bridge log does not say that encryption.self_sign_password is needed")
	}

	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	password := "bot-" + hex.EncodeToString(secret)
	env.SetPassword(t, bot, password)
	env.UpdateBridgeConfig(func(cfg map[string]any) {
		e2e.SetConfig(cfg, "encryption.self_sign_password", password)
	})
	env.RestartBridge()
	if after := botDevices(t, ctx, env, alice.client); len(after) != 1 || after[0] != device {
		t.Fatalf("bot devices after the restart = %v, want the same device %s", after, device)
	}
	waitFor(t, ctx, "the js-sdk client to see the bridge device signed by its owner", func() bool {
		status, err := js.DeviceStatus(ctx, bot, device)
		return err == nil && status.SignedByOwner
	})

	// The signed device goes on encrypting and decrypting.
	if _, err := carol.SendText(ctx, alice.acct.JID(), "after signing"); err != nil {
		t.Fatal(err)
	}
	js.WaitFor(ctx, dm, jsDecrypted(carolGhost.String(), "after signing"))
	if _, err := js.Send(ctx, dm, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "to the signed bridge"}); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "to the signed bridge")
	if log, err := os.ReadFile(env.BridgeLogPath()); err != nil {
		t.Fatal(err)
	} else if strings.Contains(string(log), password) {
		t.Error("the bridge log contains the bot's password")
	}
}
