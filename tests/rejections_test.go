package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// roomCount is how many rooms the user is in or invited to (a room Dendrite lists both ways right
// after a join counts once).
func roomCount(t testing.TB, ctx context.Context, client *mautrix.Client) int {
	t.Helper()
	resp, err := client.FullSyncRequest(ctx, mautrix.ReqSync{})
	if err != nil {
		t.Fatalf("sync failed: %v", err)
	}
	rooms := make(map[id.RoomID]bool)
	for roomID := range resp.Rooms.Join {
		rooms[roomID] = true
	}
	for roomID := range resp.Rooms.Invite {
		rooms[roomID] = true
	}
	return len(rooms)
}

// TestPMNumberNotOnWhatsApp: `pm` to a number WhatsApp does not know is refused with a clear
// reply and creates no room; a number that is on WhatsApp still gets its chat.
func TestPMNumberNotOnWhatsApp(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	_, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	before := roomCount(t, ctx, alice.client)

	sendText(t, ctx, alice.client, alice.room, "pm +49 176 99999999")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "+4917699999999 is not on WhatsApp", "no chat was created"))
	if after := roomCount(t, ctx, alice.client); after != before {
		t.Fatalf("the refused pm changed the user's rooms from %d to %d", before, after)
	}

	sendText(t, ctx, alice.client, alice.room, "pm +4917600000002")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your chat with +4917600000002"))
	joinPortal(t, ctx, env, alice.client, carolGhost)
	// A full sync right after the join may not list the room yet.
	waitFor(t, ctx, "the new chat in the user's rooms", func() bool { return roomCount(t, ctx, alice.client) > before })
	if after := roomCount(t, ctx, alice.client); after != before+1 {
		t.Fatalf("rooms after a pm to a known number: %d, want %d", after, before+1)
	}
}

// TestFirstMessageRefused: a contact who only accepts first messages from people they talked with
// refuses the user's first message (463). The user sees one notice saying why, the room is not
// stuck behind the failed message, and once the contact trusts the user (a privacy token) the next
// message arrives.
func TestFirstMessageRefused(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345679")
	carol, carolGhost := newContact(t, ctx, env, "4917600000012", "Carol")
	carol.Account().SetRequirePrivacyToken(true)

	sendText(t, ctx, alice.client, alice.room, "pm +4917600000012")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your chat with +4917600000012"))
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	sendText(t, ctx, alice.client, dm, "hello stranger")
	refusal := botNotice(env.Env, "not bridged to WhatsApp", "+4917600000012 only accepts first messages from people they have talked with")
	env.WaitForMessage(ctx, alice.client, dm, refusal)

	if err := carol.Account().IssuePrivacyToken(ctx, alice.acct); err != nil {
		t.Fatal(err)
	}
	// The refused message does not block the room: the next one is sent, now with the token.
	waitFor(t, ctx, "the privacy token to reach the bridge", func() bool { return alice.acct.QueueLength(companionDevice(t, alice.acct)) == 0 })
	sendText(t, ctx, alice.client, dm, "hello with a token")
	waitWAText(t, ctx, carol, "hello with a token")
	if n := len(env.WaitForMessages(ctx, alice.client, dm, 1, refusal)); n != 1 {
		t.Errorf("the refusal was announced %d times, want once (no retries)", n)
	}
	if got := receivedOrder(carol, []string{"hello stranger", "hello with a token"}); len(got) != 1 {
		t.Errorf("carol received %v, want only the message sent with a token", got)
	}
}

// TestGroupQueriesRateLimited: WhatsApp rate-limits group queries at login; the bridge waits and
// retries, every group still gets its room, and the user is not told about a passing limit.
func TestGroupQueriesRateLimited(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112345680", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	dave, daveGhost := newContact(t, ctx, env, "4917600000021", "Dave")
	for _, name := range []string{"Climbing", "Choir"} {
		if _, err = env.WA.CreateGroup(ctx, dave.Account(), name, acct); err != nil {
			t.Fatal(err)
		}
	}
	env.WA.SetGroupQueryLimit(1, 2*time.Second)
	alice := logInAccount(t, ctx, env, "alice", acct)
	first := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	second := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, first)
	names := map[string]bool{}
	for _, room := range []id.RoomID{first, second} {
		var content event.RoomNameEventContent
		if err = alice.client.StateEvent(ctx, room, event.StateRoomName, "", &content); err != nil {
			t.Fatalf("group room %s has no name: %v", room, err)
		}
		names[content.Name] = true
	}
	if !names["Climbing"] || !names["Choir"] {
		t.Fatalf("group rooms are named %v, want Climbing and Choir", names)
	}
	env.WaitForJoin(ctx, alice.client, first, daveGhost)
	timeline, err := e2e.Timeline(ctx, alice.client, alice.room, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if botNotice(env.Env, "limiting")(evt) {
			t.Errorf("a passing rate limit was shown to the user: %q", evt.Content.AsMessage().Body)
		}
	}
}

// TestGroupQueriesRateLimitedForLong: when WhatsApp keeps refusing the group list at login (here the
// phone used up the account's group queries for the next ten minutes), the bridge stops retrying
// after about a minute, tells the user once, and a group still gets its room with its next message.
func TestGroupQueriesRateLimitedForLong(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112345681", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	dave, daveGhost := newContact(t, ctx, env, "4917600000022", "Dave")
	group, err := env.WA.CreateGroup(ctx, dave.Account(), "Climbing", acct)
	if err != nil {
		t.Fatal(err)
	}
	env.WA.SetGroupQueryLimit(1, 10*time.Minute)
	if _, err = acct.Phone().Client().GetJoinedGroups(ctx); err != nil {
		t.Fatalf("the phone's own group query failed: %v", err)
	}
	alice := logInAccount(t, ctx, env, "alice", acct)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "WhatsApp is limiting how often the bridge may read your groups", "appears with its next message"))
	// The limit ends; the group's next message brings its room.
	env.WA.SetGroupQueryLimit(0, 0)
	if _, err = dave.SendText(ctx, group, "are you coming?"); err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	env.WaitForMessage(ctx, alice.client, room, fromGhost(daveGhost, "are you coming?"))
	if n := countNotices(t, ctx, env.Env, alice.client, alice.room, "is limiting"); n != 1 {
		t.Fatalf("the limit was told %d times, want once", n)
	}
}

// passkeyRequest extracts the WebAuthn request from the bot's passkey instructions.
func passkeyRequest(t testing.TB, evt *event.Event) *types.WebAuthnPublicKey {
	t.Helper()
	body := evt.Content.AsMessage().Body
	_, rest, ok := strings.Cut(body, "```json\n")
	raw, _, ok2 := strings.Cut(rest, "\n```")
	var opts types.WebAuthnPublicKey
	if !ok || !ok2 || json.Unmarshal([]byte(raw), &opts) != nil {
		t.Fatalf("the passkey instructions hold no request: %q", body)
	}
	return &opts
}

// TestPasskeyLogin: an account WhatsApp puts through the passkey step links after the user
// answers it with their passkey; a wrong answer is refused without ending the login.
func TestPasskeyLogin(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112345681", "Alice Phone")
	if err != nil {
		t.Fatal(err)
	}
	if err = acct.SetRequirePasskey(true); err != nil {
		t.Fatal(err)
	}
	alice := env.NewUser(t, "alice")
	room := openManagementRoom(t, ctx, env.Env, alice)
	sendText(t, ctx, alice, room, "login")
	qrEvt := env.WaitForMessage(ctx, alice, room, isBotImage(env))
	if err = acct.ScanQR(ctx, decodeQR(t, ctx, alice, qrEvt)); err != nil {
		t.Fatalf("phone failed to scan the QR code: %v", err)
	}
	instructions := env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "confirm this new linked device with your passkey", "passkey <answer>"))
	opts := passkeyRequest(t, instructions)

	sendText(t, ctx, alice, room, `passkey {"rawId": "AAAA"}`)
	env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "WhatsApp did not accept the passkey"))

	assertion, err := acct.AssertPasskey(opts)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(assertion)
	sendText(t, ctx, alice, room, "passkey "+string(data))
	env.WaitForMessage(ctx, alice, room, botNotice(env.Env, "Successfully logged in as +4915112345681"))
	device := companionDevice(t, acct)
	waitFor(t, ctx, "the companion to be online", func() bool { return acct.Online(device) })

	// The same step after a pairing code typed on the phone (a second account, a second user).
	acct2, err := env.WA.CreateAccount(ctx, "4915112345683", "Bea Phone")
	if err != nil {
		t.Fatal(err)
	}
	if err = acct2.SetRequirePasskey(true); err != nil {
		t.Fatal(err)
	}
	bea := env.NewUser(t, "bea")
	beaRoom := openManagementRoom(t, ctx, env.Env, bea)
	sendText(t, ctx, bea, beaRoom, "passkey confirm")
	env.WaitForMessage(ctx, bea, beaRoom, botNotice(env.Env, "There is no login waiting for a passkey"))
	sendText(t, ctx, bea, beaRoom, "login +49 151 12345683")
	codeMsg := env.WaitForMessage(ctx, bea, beaRoom, botNotice(env.Env, "enter this code"))
	code := pairCodeRegex.FindString(codeMsg.Content.AsMessage().Body)
	// Answers before WhatsApp asked for them go nowhere, and say so.
	sendText(t, ctx, bea, beaRoom, "passkey confirm")
	env.WaitForMessage(ctx, bea, beaRoom, botNotice(env.Env, "There is no passkey code to confirm yet"))
	if err = acct2.EnterPairingCode(ctx, code); err != nil {
		t.Fatalf("phone refused the pairing code: %v", err)
	}
	instructions = env.WaitForMessage(ctx, bea, beaRoom, botNotice(env.Env, "confirm this new linked device with your passkey", "passkey <answer>"))
	assertion, err = acct2.AssertPasskey(passkeyRequest(t, instructions))
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(assertion)
	sendText(t, ctx, bea, beaRoom, "passkey "+string(data))
	env.WaitForMessage(ctx, bea, beaRoom, botNotice(env.Env, "Successfully logged in as +4915112345683"))
}

// TestLoginWhatsAppUnreachable: a login while WhatsApp cannot be reached, and one that loses the
// connection while the QR code is shown, say so instead of reporting a timeout; the next login
// works once WhatsApp is back.
func TestLoginWhatsAppUnreachable(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112345682", "Alice Phone")
	if err != nil {
		t.Fatal(err)
	}
	alice := env.NewUser(t, "alice")
	room := openManagementRoom(t, ctx, env.Env, alice)
	unreachable := botNotice(env.Env, "Login failed: WhatsApp could not be reached")

	env.WA.SetOutage(true)
	sendText(t, ctx, alice, room, "login")
	env.WaitForMessage(ctx, alice, room, unreachable)

	env.WA.SetOutage(false)
	sendText(t, ctx, alice, room, "login")
	env.WaitForMessage(ctx, alice, room, isBotImage(env))
	env.WA.SetOutage(true)
	env.WaitForMessages(ctx, alice, room, 2, unreachable)

	env.WA.SetOutage(false)
	loginQR(t, ctx, env, alice, room, acct)
	timeline, err := e2e.Timeline(ctx, alice, room, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if botNotice(env.Env, "timed out")(evt) {
			t.Errorf("an unreachable WhatsApp was reported as a timeout: %q", evt.Content.AsMessage().Body)
		}
	}
}
