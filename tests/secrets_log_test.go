package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestSecretsStayOutOfLogs: after a QR login, a pairing-code login, a provisioning API call and
// messages both ways, the bridge's log at info level (console and log file) holds none of the
// appservice tokens, the provisioning secret, the QR code's content, the pairing code or a message
// body; and the files holding secrets (config, registration, SQLite database, log file) are
// readable by their owner only.
func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	secret := "provisioning-" + hex.EncodeToString(nonce)
	var logFile string
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "logging.level", "info")
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", secret)
	})
	logFile = filepath.Join(env.Dir(), "bridge-file.log")
	env.UpdateBridgeConfig(func(cfg map[string]any) { e2e.SetConfig(cfg, "logging.file", logFile) })
	env.RestartBridge()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	secrets := map[string]string{"as_token": env.ASToken(), "hs_token": env.HSToken(), "provisioning secret": secret}

	// alice logs in with a QR code.
	acct, err := env.WA.CreateAccount(ctx, "4915112345678", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	alice := env.NewUser(t, "alice")
	room := openManagementRoom(t, ctx, env.Env, alice)
	sendText(t, ctx, alice, room, "login")
	qr := decodeQR(t, ctx, alice, env.WaitForMessage(ctx, alice, room, isBotImage(env)))
	secrets["QR code"] = qr
	for i, part := range strings.Split(qr, ",") {
		if len(part) >= 8 {
			secrets["QR code part "+string(rune('0'+i))] = part
		}
	}
	if err = acct.ScanQR(ctx, qr); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "Successfully logged in"))

	// bob logs in with a pairing code.
	bobAcct, err := env.WA.CreateAccount(ctx, "4915200000001", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	bob := env.NewUser(t, "bob")
	bobRoom := openManagementRoom(t, ctx, env.Env, bob)
	sendText(t, ctx, bob, bobRoom, "login +49 152 00000001")
	code := pairCodeRegex.FindString(env.WaitForMessage(ctx, bob, bobRoom, botNotice(env.Env, "enter this code")).Content.AsMessage().Body)
	if code == "" {
		t.Fatal("no pairing code posted")
	}
	secrets["pairing code"], secrets["pairing code without dash"] = code, strings.ReplaceAll(code, "-", "")
	if err = bobAcct.EnterPairingCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, bob, bobRoom, botNotice(env.Env, "Successfully logged in"))

	api := provisioningClient{t: t, base: env.BridgeURL(), secret: secret, user: alice.UserID}
	api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, "")

	// Messages both ways.
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	fromWA := "wa-body-" + hex.EncodeToString(nonce)
	if _, err = carol.SendText(ctx, acct.JID(), fromWA); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice, carolGhost)
	env.WaitForMessage(ctx, alice, dm, fromGhost(carolGhost, fromWA))
	fromMatrix := "matrix-body-" + hex.EncodeToString(nonce)
	if _, err = alice.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: fromMatrix, Format: event.FormatHTML, FormattedBody: "<b>" + fromMatrix + "</b>",
	}); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "*"+fromMatrix+"*")
	secrets["WhatsApp message body"], secrets["Matrix message body"] = fromWA, fromMatrix

	for _, path := range []string{env.BridgeLogPath(), logFile} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Fatalf("%s is empty: the bridge logged nothing", path)
		}
		for what, value := range secrets {
			if i := strings.Index(string(data), value); i >= 0 {
				t.Errorf("%s holds the %s: %q", filepath.Base(path), what, lineAround(string(data), i))
			}
		}
	}
	for _, path := range []string{env.BridgeConfigPath(), filepath.Join(filepath.Dir(env.BridgeConfigPath()), "registration.yaml"), env.DatabaseURI(), logFile} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %o: others than its owner can read the secrets in it", filepath.Base(path), perm)
		}
	}
}

// lineAround returns the log line holding byte i of data.
func lineAround(data string, i int) string {
	start := strings.LastIndexByte(data[:i], '\n') + 1
	end := strings.IndexByte(data[i:], '\n')
	if end < 0 {
		return data[start:]
	}
	return data[start : i+end]
}
