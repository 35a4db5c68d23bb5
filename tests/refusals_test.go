package tests

import (
	"context"
	"testing"
	"time"

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
