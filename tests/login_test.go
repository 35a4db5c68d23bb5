package tests

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestQRLoginSurvivesRestartAndLogout: QR login scanned from the posted image, status, a bridge
// restart reconnecting without a new QR, then logout removing the linked device.
func TestQRLoginSurvivesRestartAndLogout(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, dialect, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			acct, err := env.WA.CreateAccount(ctx, "4915112345678", "Alice Phone")
			if err != nil {
				t.Fatal(err)
			}
			alice := env.NewUser(t, "alice")
			room := openManagementRoom(t, ctx, env.Env, alice)
			loginQR(t, ctx, env, alice, room, acct)
			device := companionDevice(t, acct)
			waitFor(t, ctx, "the companion to be online", func() bool { return acct.Online(device) })

			sendText(t, ctx, alice, room, "status")
			env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "Logged in as +4915112345678", "Connected to WhatsApp since"))
			waitAppStateSynced(t, ctx, env, alice, room)

			// The QR message is gone once the login finished.
			timeline, err := e2e.Timeline(ctx, alice, room, 200)
			if err != nil {
				t.Fatal(err)
			}
			for _, evt := range timeline {
				if isBotImage(env)(evt) && len(evt.Content.Raw) > 0 {
					t.Errorf("QR code %s is still visible after login", evt.ID)
				}
			}

			env.RestartBridge()
			waitFor(t, ctx, "the session to reconnect after a restart", func() bool { return acct.Online(device) })
			// The restored session knows its app state is synced; nothing asks the phone again.
			pings := countNotices(t, ctx, env.Env, alice, room, "Logged in as")
			sendText(t, ctx, alice, room, "ping")
			waitForNotices(t, ctx, env.Env, alice, room, pings+1, "Logged in as")
			waitForNotices(t, ctx, env.Env, alice, room, 2, "Logged in as +4915112345678", "Connected to WhatsApp since", appStateSyncedNotice)
			if got := len(acct.Devices()); got != 2 {
				t.Errorf("restart changed the linked devices: %v", acct.Devices())
			}

			sendText(t, ctx, alice, room, "logout")
			env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "Logged out of WhatsApp."))
			waitFor(t, ctx, "the device to leave the phone's linked devices", func() bool { return len(acct.Devices()) == 1 })
			sendText(t, ctx, alice, room, "status")
			env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "You are not logged in to WhatsApp."))
		})
	}
}

var pairCodeRegex = regexp.MustCompile(`\b([1-9A-Z]{4}-[1-9A-Z]{4})\b`)

// TestPairingCodeLoginAndDeviceRemoval: login with a pairing code typed on the phone, then the phone
// removes the linked device and the user is told in the management room.
func TestPairingCodeLoginAndDeviceRemoval(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915200000001", "Bob Phone")
	if err != nil {
		t.Fatal(err)
	}
	bob := env.NewUser(t, "bob")
	room := openManagementRoom(t, ctx, env.Env, bob)

	sendText(t, ctx, bob, room, "login +49 152 00000001")
	codeMsg := env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "enter this code"))
	code := pairCodeRegex.FindString(codeMsg.Content.AsMessage().Body)
	if code == "" {
		t.Fatalf("no XXXX-XXXX pairing code in %q", codeMsg.Content.AsMessage().Body)
	}
	if err = acct.EnterPairingCode(ctx, code); err != nil {
		t.Fatalf("phone refused the pairing code: %v", err)
	}
	env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "Successfully logged in as +4915200000001"))
	device := companionDevice(t, acct)
	waitFor(t, ctx, "the companion to be online", func() bool { return acct.Online(device) })
	waitAppStateSynced(t, ctx, env, bob, room)

	if err = acct.RemoveDevice(ctx, device); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "You were logged out of WhatsApp", "removed from your phone"))
	sendText(t, ctx, bob, room, "status")
	env.WaitForMessage(ctx, bob, room, botNotice(env.Env, "You are not logged in to WhatsApp."))
	// The session is gone for good: after a restart the bridge still says so.
	env.RestartBridge()
	sendText(t, ctx, bob, room, "status")
	waitForNotices(t, ctx, env.Env, bob, room, 2, "You are not logged in to WhatsApp.")
}

// TestLoginRefusalsTimeoutAndCancel: a user without permission cannot log in, a login nobody scans
// times out with a message, and cancel aborts a login.
func TestLoginRefusalsTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.login_timeout", 10)
		perms := e2e.GetConfig(cfg, "bridge.permissions").(map[string]any)
		perms["@mallory:"+e2e.Domain] = "relay"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	mallory := env.NewUser(t, "mallory")
	shared := env.CreateDM(t, mallory, env.BotMXID())
	env.WaitForMessage(ctx, mallory, shared, botNotice(env.Env, "not allowed"))

	carol := env.NewUser(t, "carol")
	room := openManagementRoom(t, ctx, env.Env, carol)
	sendText(t, ctx, carol, room, "login")
	env.WaitForMessage(ctx, carol, room, isBotImage(env))
	env.WaitForMessage(ctx, carol, room, botNotice(env.Env, "Login timed out"))

	sendText(t, ctx, carol, room, "login")
	waitForNotices(t, ctx, env.Env, carol, room, 2, "Scan this QR code")
	sendText(t, ctx, carol, room, "cancel")
	env.WaitForMessage(ctx, carol, room, botNotice(env.Env, "Login cancelled."))
	sendText(t, ctx, carol, room, "status")
	env.WaitForMessage(ctx, carol, room, botNotice(env.Env, "You are not logged in to WhatsApp."))

	// A pairing code for a number WhatsApp does not know is refused in words, not as a raw 404.
	sendText(t, ctx, carol, room, "login +15559990001")
	env.WaitForMessage(ctx, carol, room, botNotice(env.Env, "Login failed: +15559990001 is not on WhatsApp."))
}

// TestTwoUsersLogInAtOnce: two Matrix users on one bridge log in with two WhatsApp accounts at the
// same time (both logins in progress together) and both end up connected.
func TestTwoUsersLogInAtOnce(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	type login struct {
		acct   *wasim.Account
		client *mautrix.Client
		room   id.RoomID
	}
	var logins []login
	for i, name := range []string{"dave", "erin"} {
		acct, err := env.WA.CreateAccount(ctx, fmt.Sprintf("44770090000%d", i), name)
		if err != nil {
			t.Fatal(err)
		}
		client := env.NewUser(t, name)
		logins = append(logins, login{acct, client, openManagementRoom(t, ctx, env.Env, client)})
	}
	for _, l := range logins {
		sendText(t, ctx, l.client, l.room, "login")
	}
	for _, l := range logins {
		qr := env.WaitForMessage(ctx, l.client, l.room, isBotImage(env))
		if err := l.acct.ScanQR(ctx, decodeQR(t, ctx, l.client, qr)); err != nil {
			t.Fatalf("phone failed to scan the QR code: %v", err)
		}
	}
	for _, l := range logins {
		env.WaitForMessage(ctx, l.client, l.room, botNotice(env.Env, "Successfully logged in as +"+l.acct.JID().User))
		device := companionDevice(t, l.acct)
		waitFor(t, ctx, l.acct.JID().User+" to be online", func() bool { return l.acct.Online(device) })
	}
}

// TestStoredSessionGoneAtStartup: a login whose WhatsApp session vanished from the store while the
// bridge was stopped (a database restored from an older backup, a hand-made clean-up) is forgotten
// at start-up (status says the user is not logged in), and the other users' stored sessions
// connect as usual; start-up loads every session at once, so one missing one must not hold up the
// rest.
func TestStoredSessionGoneAtStartup(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, dialect, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
			bob := newLoggedInUser(t, ctx, env, "bob", "4915112345679")
			carol := newLoggedInUser(t, ctx, env, "carol", "4915112345680")
			bobDevice := companionDevice(t, bob.acct)

			env.StopBridge()
			waitFor(t, ctx, "bob's companion to go offline", func() bool { return !bob.acct.Online(bobDevice) })
			db, err := database.Open(ctx, string(env.DatabaseDialect()), env.DatabaseURI(), 1, 1, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			bobJID := bob.acct.Devices()[1].String()
			res, err := db.DB.Exec(ctx, "DELETE FROM whatsmeow_device WHERE jid=$1", bobJID)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("deleted %d whatsmeow_device rows of %s, want 1", n, bobJID)
			}
			env.LaunchBridge()
			env.WaitBridgeReady()

			for _, user := range []*loggedInUser{alice, carol} {
				device := companionDevice(t, user.acct)
				waitFor(t, ctx, user.client.UserID.String()+"'s session to reconnect", func() bool { return user.acct.Online(device) })
				sendText(t, ctx, user.client, user.room, "status")
				env.WaitForMessage(ctx, user.client, user.room, botNotice(env.Env, "Logged in as +"+user.acct.JID().User))
			}
			sendText(t, ctx, bob.client, bob.room, "status")
			env.WaitForMessage(ctx, bob.client, bob.room, botNotice(env.Env, "You are not logged in to WhatsApp."))
			if bob.acct.Online(bobDevice) {
				t.Error("bob's companion is online although its session is gone")
			}
		})
	}
}
