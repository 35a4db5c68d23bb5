//go:build goolm

package tests

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestEncryptedMessageWhileTheChatIsBusy: while an encrypted chat keeps receiving messages (the
// bot's sync polls instead of long-polling, bridge/botsync.go), a Matrix device that joins the
// conversation then sends its first message, in a Megolm session the bridge has never seen; the
// room key comes to the bridge only through the bot's sync, and the message still reaches WhatsApp.
func TestEncryptedMessageWhileTheChatIsBusy(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, encryptionConfig(true))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112350011")
	phone := env.NewCryptoClient(t, alice.client.UserID, "alice's phone")
	carol, carolGhost := newContact(t, ctx, env, "4917600000211", "Carol")
	dm := newEncryptedDM(t, ctx, env, alice, phone, carol, carolGhost)

	busy := startBusyWriter(t, ctx, carol, alice.acct.JID())
	defer busy.Stop()
	phone.WaitFor(ctx, dm, decryptedFrom(carolGhost, "busy 40"))

	laptop := env.NewCryptoClient(t, alice.client.UserID, "alice's laptop")
	laptop.WaitEncrypted(ctx, dm)
	started := time.Now()
	resp, err := laptop.SendText(ctx, dm, "from the new laptop")
	if err != nil {
		t.Fatal(err)
	}
	if typ := serverType(t, ctx, alice.client, dm, resp.EventID); typ != event.EventEncrypted {
		t.Fatalf("the laptop sent its message as %s, not encrypted", typ.Type)
	}
	waitWAText(t, ctx, carol, "from the new laptop")
	t.Logf("the new device's message reached WhatsApp %v after its send", time.Since(started).Round(time.Millisecond))
}
