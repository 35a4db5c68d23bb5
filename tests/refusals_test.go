package tests

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// countNotices counts the bot notices in a room that contain every one of parts.
func countNotices(t testing.TB, ctx context.Context, env *e2e.Env, client *mautrix.Client, roomID id.RoomID, parts ...string) int {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, client, roomID, 500)
	if err != nil {
		t.Fatalf("failed to read %s: %v", roomID, err)
	}
	n := 0
	match := botNotice(env, parts...)
	for _, evt := range timeline {
		if match(evt) {
			n++
		}
	}
	return n
}

// expectStatus sends `status` and waits for a new answer containing every one of parts.
func expectStatus(t testing.TB, ctx context.Context, env *waEnv, u *loggedInUser, parts ...string) {
	t.Helper()
	seen := countNotices(t, ctx, env.Env, u.client, u.room, parts...)
	sendText(t, ctx, u.client, u.room, "status")
	waitForNotices(t, ctx, env.Env, u.client, u.room, seen+1, parts...)
}

// observe lets d pass: a window in which the test checks that something does NOT happen (a
// reconnect storm would show dozens of attempts in it).
func observe(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// refusalSetup logs a user in, opens a DM with a contact and returns the device the bridge uses.
func refusalSetup(t *testing.T, ctx context.Context, env *waEnv, localpart, phone, contactPhone string) (*loggedInUser, *wasim.Contact, id.RoomID, uint16) {
	t.Helper()
	u := newLoggedInUser(t, ctx, env, localpart, phone)
	waitAppStateSynced(t, ctx, env, u.client, u.room)
	contact, ghost := newContact(t, ctx, env, contactPhone, "Carol")
	if _, err := contact.SendText(ctx, u.acct.JID(), "hi"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, u.client, ghost)
	env.WaitForMessage(ctx, u.client, dm, fromGhost(ghost, "hi"))
	device := companionDevice(t, u.acct)
	waitFor(t, ctx, "the bridge to be online", func() bool { return u.acct.Online(device) })
	return u, contact, dm, device
}

// TestBanAndOutdatedClient: a temporary ban and an outdated client are each told once in the
// management room with what to do, show in `status`, cause no reconnect storm (none at all until
// the ban ends or the user acts), and messages sent meanwhile go out afterwards.
func TestBanAndOutdatedClient(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	u, carol, dm, device := refusalSetup(t, ctx, env, "dana", "4915300000001", "4917300000002")

	// A ban of 15 s: the bridge is cut off, its reconnect is refused with 402.
	const ban = 15 * time.Second
	if err := u.acct.Ban(101, ban); err != nil {
		t.Fatal(err)
	}
	banned := time.Now()
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "WhatsApp has temporarily banned your account until", "too many messages to people who do not have you in their contacts", "reconnects by itself when the ban ends"))
	attempts := u.acct.LoginAttempts(device)
	expectStatus(t, ctx, env, u, "Not connected: bad credentials", "temporarily banned by WhatsApp until")
	sendText(t, ctx, u.client, dm, "written during the ban")
	env.WaitForMessage(ctx, u.client, dm, botNotice(env.Env, "WhatsApp is not reachable right now"))
	waitFor(t, ctx, "the ban to end and the bridge to reconnect", func() bool { return u.acct.Online(device) })
	if since := time.Since(banned); since < ban-time.Second {
		t.Fatalf("the bridge was back %v after the ban began, before it ended", since)
	}
	if got := u.acct.LoginAttempts(device) - attempts; got != 1 {
		t.Fatalf("%d login attempts during and after the ban, want exactly the one when it ended", got)
	}
	waitWAText(t, ctx, carol, "written during the ban")
	if n := countNotices(t, ctx, env.Env, u.client, u.room, "temporarily banned your account"); n != 1 {
		t.Fatalf("the ban was told %d times, want once", n)
	}

	// An outdated client: refused with 405 until the bridge is updated; no retries meanwhile.
	if err := u.acct.RefuseLogins(device, 405, 0); err != nil {
		t.Fatal(err)
	}
	if err := u.acct.SendStreamError(device, "503"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "WhatsApp refuses this bridge version as outdated", "Please update the bridge"))
	attempts = u.acct.LoginAttempts(device)
	expectStatus(t, ctx, env, u, "Not connected: bad credentials", "outdated")
	sendText(t, ctx, u.client, dm, "written while outdated")
	observe(ctx, 8*time.Second)
	if got := u.acct.LoginAttempts(device) - attempts; got != 0 {
		t.Fatalf("%d login attempts against an outdated-client refusal, want none", got)
	}
	if n := countNotices(t, ctx, env.Env, u.client, u.room, "outdated"); n != 2 { // the alert and the status answer
		t.Fatalf("%d notices mention the outdated client, want the alert once and one status answer", n)
	}
	// The bridge was updated: the user asks it to reconnect.
	u.acct.ClearRefusals(device)
	sendText(t, ctx, u.client, u.room, "reconnect")
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "Reconnected to WhatsApp."))
	waitWAText(t, ctx, carol, "written while outdated")
	expectStatus(t, ctx, env, u, "Connected to WhatsApp since")
}

// TestServiceUnavailableAndSilentConnection: WhatsApp answering 503 and a connection that goes
// silent (keepalives unanswered) are retried with backoff, not in a storm, shown as a transient
// disconnect, and the messages sent meanwhile go out once the connection is back.
func TestServiceUnavailableAndSilentConnection(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "whatsapp.keepalive_interval", 2)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	u, carol, dm, device := refusalSetup(t, ctx, env, "erin", "4915300000011", "4917300000012")

	// Four 503 refusals in a row: the bridge backs off (1, 2, 4, 8 s, jittered by 25%) and gets
	// in on the fifth attempt by itself.
	if err := u.acct.RefuseLogins(device, 503, 4); err != nil {
		t.Fatal(err)
	}
	attempts := u.acct.LoginAttempts(device)
	start := time.Now()
	if err := u.acct.SendStreamError(device, "503"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the bridge to be refused", func() bool { return u.acct.LoginAttempts(device) > attempts })
	sendText(t, ctx, u.client, dm, "written during the 503s")
	expectStatus(t, ctx, env, u, "Not connected:")
	waitFor(t, ctx, "the bridge to get in after the 503s", func() bool { return u.acct.Online(device) })
	if got := u.acct.LoginAttempts(device) - attempts; got != 5 {
		t.Fatalf("%d login attempts through four 503s, want 5", got)
	}
	if took := time.Since(start); took < 10*time.Second {
		t.Fatalf("four 503s were retried within %v; that is no backoff", took)
	}
	waitWAText(t, ctx, carol, "written during the 503s")

	// The connection goes silent: the bridge notices through its keepalives, and each silent
	// reconnect is given up on the same way, with backoff.
	if err := u.acct.Silence(device, true); err != nil {
		t.Fatal(err)
	}
	attempts = u.acct.LoginAttempts(device)
	sendText(t, ctx, u.client, dm, "written into the silence")
	waitFor(t, ctx, "the bridge to give up on the silent connection", func() bool { return u.acct.LoginAttempts(device) > attempts })
	expectStatus(t, ctx, env, u, "Not connected:", "keepalive")
	sendText(t, ctx, u.client, dm, "written after the silence was noticed")
	observe(ctx, 10*time.Second)
	if got := u.acct.LoginAttempts(device) - attempts; got > 3 {
		t.Fatalf("%d login attempts in about 15 s of silence; that is a storm", got)
	}
	if err := u.acct.Silence(device, false); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "written into the silence")
	waitWAText(t, ctx, carol, "written after the silence was noticed")
	order := receivedOrder(carol, []string{"written into the silence", "written after the silence was noticed"})
	if len(order) != 2 || order[0] != "written into the silence" {
		t.Fatalf("WhatsApp received %v, want both once, in order", order)
	}
	expectStatus(t, ctx, env, u, "Connected to WhatsApp since")
}

// TestLoggedOutWhileAwayAndSessionTakenOver: the phone logs the bridge out after it was offline too
// long (told once, `status` says so, no login loop and no reconnects, even across a restart); after
// a new login, a second client with the same session takes the connection over (told once, no
// reconnect) until the user sends `reconnect`, and the messages sent meanwhile go out.
func TestLoggedOutWhileAwayAndSessionTakenOver(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	u, carol, dm, device := refusalSetup(t, ctx, env, "fay", "4915300000021", "4917300000022")

	// The bridge is down longer than the phone tolerates (14 days on WhatsApp, 2 s here).
	const limit = 2 * time.Second
	env.WA.SetCompanionOfflineLimit(limit)
	env.StopBridge()
	waitFor(t, ctx, "the bridge to be offline", func() bool { return !u.acct.Online(device) })
	observe(ctx, limit+time.Second)
	attempts := u.acct.LoginAttempts(device)
	env.StartBridge()
	const loggedOut = "You were logged out of WhatsApp: WhatsApp logged this device out (it was removed on your phone, or your phone was offline for too long). Send `login` to log in again."
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, loggedOut))
	expectStatus(t, ctx, env, u, "You are not logged in to WhatsApp.", "Your last session ended")
	env.RestartBridge()
	expectStatus(t, ctx, env, u, "You are not logged in to WhatsApp.")
	if n := countNotices(t, ctx, env.Env, u.client, u.room, loggedOut); n != 1 {
		t.Fatalf("the logout was told %d times, want once", n)
	}
	if got := u.acct.LoginAttempts(device) - attempts; got != 1 {
		t.Fatalf("%d login attempts after the logout, want only the refused one", got)
	}
	env.WA.SetCompanionOfflineLimit(0)

	// A new login; then a second client connects with the bridge's session from its database.
	histories := countNotices(t, ctx, env.Env, u.client, u.room, "Your history is here")
	loginQR(t, ctx, env, u.client, u.room, u.acct)
	device = u.acct.Devices()[len(u.acct.Devices())-1].Device
	waitFor(t, ctx, "the bridge to be online", func() bool { return u.acct.Online(device) })
	// The phone's first messages to the new device (its history) are through before the takeover.
	// whatsmeow handles a stream error in turn with the stanzas before it, and drops what is
	// still queued when the socket closes: a "replaced" that waits behind slow decryptions until
	// the server closed the socket never arrives, and the client reconnects instead, taking the
	// session back from the second client (seen once under CI load).
	env.WaitForMessages(ctx, u.client, u.room, histories+1, botNotice(env.Env, "Your history is here"))
	twin := connectTwin(t, ctx, env, types.JID{User: u.acct.JID().User, Server: types.DefaultUserServer, Device: device})
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "Another client took over", "send `reconnect` to take the connection back"))
	attempts = u.acct.LoginAttempts(device)
	expectStatus(t, ctx, env, u, "Not connected: bad credentials", "another client connected")
	sendText(t, ctx, u.client, dm, "written while taken over")
	observe(ctx, 5*time.Second)
	if got := u.acct.LoginAttempts(device) - attempts; got != 0 {
		t.Fatalf("%d login attempts while another client held the session, want none", got)
	}
	sendText(t, ctx, u.client, u.room, "reconnect")
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "Reconnected to WhatsApp."))
	waitWAText(t, ctx, carol, "written while taken over")
	waitFor(t, ctx, "the other client to be replaced", func() bool { return !twin.IsConnected() })
	if n := countNotices(t, ctx, env.Env, u.client, u.room, "Another client took over"); n != 1 {
		t.Fatalf("the takeover was told %d times, want once", n)
	}
}

// connectTwin connects a second whatsmeow client with the bridge's own session, read from the
// bridge's database: what a second bridge process on the same database would do.
func connectTwin(t *testing.T, ctx context.Context, env *waEnv, jid types.JID) *whatsmeow.Client {
	t.Helper()
	db, err := sql.Open("postgres", env.DatabaseURI())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	device, err := sqlstore.NewWithDB(db, "postgres", waLog.Noop).GetDevice(ctx, jid)
	if err != nil || device == nil {
		t.Fatalf("failed to load the bridge's session %s: %v", jid, err)
	}
	twin := env.WA.NewClient(device)
	// As the bridge's own client: decryptions go through the decrypted event buffer both share, so
	// the messages the bridge already decrypted are recognised as such instead of failing on their
	// spent counters.
	twin.SynchronousAck = true
	twin.EnableDecryptedEventBuffer = true
	t.Cleanup(twin.Disconnect)
	if err = twin.Connect(); err != nil {
		t.Fatalf("the second client failed to connect: %v", err)
	}
	return twin
}

// TestOtherRefusals: an unknown stream error and a 500 are retried by themselves without a word;
// an unknown refusal code is told once and waits for `reconnect`; 403 and 406 end the session with
// their own explanation.
func TestOtherRefusals(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	u, carol, dm, device := refusalSetup(t, ctx, env, "gus", "4915300000031", "4917300000032")
	notices := func() int { return countNotices(t, ctx, env.Env, u.client, u.room) }

	// An unknown stream error, then a 500 refusal: back by themselves, nothing to tell.
	before := notices()
	attempts := u.acct.LoginAttempts(device)
	if err := u.acct.RefuseLogins(device, 500, 1); err != nil {
		t.Fatal(err)
	}
	if err := u.acct.SendStreamError(device, "599"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the bridge to get past the 500", func() bool {
		return u.acct.LoginAttempts(device)-attempts == 2 && u.acct.Online(device)
	})
	if n := notices(); n != before {
		t.Fatalf("%d notices about passing trouble, want none", n-before)
	}

	// An unknown refusal: told once, no retries until the user asks; a reconnect refused again
	// says so at once (and is not reported as a success later).
	if err := u.acct.RefuseLogins(device, 409, 2); err != nil {
		t.Fatal(err)
	}
	if err := u.acct.SendStreamError(device, "503"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "WhatsApp refused the connection (409: client user agent was rejected)", "send `reconnect` to try again"))
	attempts = u.acct.LoginAttempts(device)
	sendText(t, ctx, u.client, dm, "written while refused")
	observe(ctx, 5*time.Second)
	if got := u.acct.LoginAttempts(device) - attempts; got != 0 {
		t.Fatalf("%d login attempts after an unknown refusal, want none", got)
	}
	sendText(t, ctx, u.client, u.room, "reconnect")
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "WhatsApp refused the connection again", "409", "reconnect` to try once more"))
	sendText(t, ctx, u.client, u.room, "reconnect")
	env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "Reconnected to WhatsApp."))
	waitWAText(t, ctx, carol, "written while refused")
	if n := countNotices(t, ctx, env.Env, u.client, u.room, "Reconnected to WhatsApp."); n != 1 {
		t.Fatalf("%d reconnect successes told after one refused and one good reconnect, want 1", n)
	}

	// 403 and 406 end the session, each with its explanation, told once.
	for _, tc := range []struct {
		reason int
		why    string
	}{
		{403, "WhatsApp on your phone was logged out or moved to another phone"},
		{406, "WhatsApp logged this device out and may have banned the account"},
	} {
		if err := u.acct.RefuseLogins(device, tc.reason, 1); err != nil {
			t.Fatal(err)
		}
		if err := u.acct.SendStreamError(device, "503"); err != nil {
			t.Fatal(err)
		}
		env.WaitForMessage(ctx, u.client, u.room, botNotice(env.Env, "You were logged out of WhatsApp: "+tc.why))
		expectStatus(t, ctx, env, u, "You are not logged in to WhatsApp.", tc.why)
		if n := countNotices(t, ctx, env.Env, u.client, u.room, "You were logged out of WhatsApp: "+tc.why); n != 1 {
			t.Fatalf("the %d logout was told %d times, want once", tc.reason, n)
		}
		if tc.reason == 403 {
			loginQR(t, ctx, env, u.client, u.room, u.acct)
			device = companionDevice(t, u.acct)
			waitFor(t, ctx, "the bridge to be online", func() bool { return u.acct.Online(device) })
		}
	}
}
