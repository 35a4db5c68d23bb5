package tests

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// ghostNameIs polls the ghost's display name on the homeserver until it is want.
func ghostNameIs(t *testing.T, ctx context.Context, client *mautrix.Client, ghost id.UserID, want string) {
	t.Helper()
	var got string
	for {
		if resp, err := client.GetDisplayName(ctx, ghost); err == nil {
			got = resp.DisplayName
		}
		if got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for ghost %s to be named %q; its name is %q", ghost, want, got)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAppStateNamesAndNoSelfChat: the phone's peer messages at login create no room; the contact
// name saved in the phone's address book names the contact's ghost from the first sync on, before
// the contact ever wrote, and a rename on the phone renames the ghost; the account's own push name
// is announced after login and shown by `status`.
func TestAppStateNamesAndNoSelfChat(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112300001", "Alice Own")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000012", "Carol Push")
	// Saved before the bridge links: it arrives with the first full app state sync.
	if err = acct.SaveContact(ctx, carol.JID(), "Carol Saved", "Carol"); err != nil {
		t.Fatal(err)
	}
	yes := true
	if err = acct.SetChatSettings(ctx, carol.JID(), wasim.ChatSettings{Muted: &yes}); err != nil {
		t.Fatal(err)
	}
	alice := logInAccount(t, ctx, env, "alice", acct)

	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your WhatsApp name is", "Alice Own"))
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol Saved (WA)")

	// The key share (a peer message from the phone) came before anything Carol writes now, and the
	// bridge handles a connection's events in order: once Carol's message is in Matrix, the key share
	// was handled, and it made no room. The user has their management room and Carol's chat only.
	if _, err = carol.SendText(ctx, acct.JID(), "hi from carol"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "hi from carol"))
	resp, err := alice.client.SyncRequest(ctx, 0, "", "", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Rooms.Invite) != 0 {
		t.Errorf("login left invites to %d room(s), want none", len(resp.Rooms.Invite))
	}
	for room := range resp.Rooms.Join {
		if room != alice.room && room != dm {
			t.Errorf("the user is in room %s besides the management room and Carol's chat", room)
		}
	}
	if name, err := alice.client.GetDisplayName(ctx, carolGhost); err != nil || name.DisplayName != "Carol Saved (WA)" {
		t.Errorf("Carol's ghost is named %v (%v) after she wrote, want her saved name", name, err)
	}

	sendText(t, ctx, alice.client, alice.room, "status")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Logged in as +4915112300001", "Alice Own"))

	// Renaming the contact on the phone renames the ghost at once.
	if err = acct.SaveContact(ctx, carol.JID(), "Carol Renamed", "Caro"); err != nil {
		t.Fatal(err)
	}
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol Renamed (WA)")

	// Chat settings from the phone (the mute from before login, pin and archive now) are kept for
	// the user and chat; without double puppeting the bridge cannot apply them to the room.
	if err = acct.SetChatSettings(ctx, carol.JID(), wasim.ChatSettings{Pinned: &yes, Archived: &yes}); err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, string(env.DatabaseDialect()), env.DatabaseURI(), 1, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, ctx, "the bridge to keep Carol's chat settings", func() bool {
		cs, err := db.ChatSettings.Get(ctx, alice.client.UserID, carol.JID())
		return err == nil && cs != nil && cs.Muted(time.Now()) && cs.Pinned && cs.Archived
	})

	// A changed push name of the account reaches `status`.
	if err = acct.SetPushName(ctx, "Alice Changed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "status to show the new push name", func() bool {
		since := time.Now()
		sendText(t, ctx, alice.client, alice.room, "status")
		evt := env.WaitForMessage(ctx, alice.client, alice.room, func(evt *event.Event) bool {
			return botNotice(env.Env, "Logged in as +4915112300001")(evt) && time.UnixMilli(evt.Timestamp).After(since.Add(-time.Second))
		})
		return botNotice(env.Env, "Alice Changed")(evt)
	})
}

// TestSharedGhostTakesFirstUsersSavedName: two bridge users saved one contact under different
// names; the shared ghost shows the name saved by the first of them by Matrix user ID, also after
// the second user's phone synced its own name for the contact.
func TestSharedGhostTakesFirstUsersSavedName(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	carol, carolGhost := newContact(t, ctx, env, "4917600000022", "Carol Push")
	dave, daveGhost := newContact(t, ctx, env, "4917600000023", "Dave Push")
	alicePhone, err := env.WA.CreateAccount(ctx, "4915112300021", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	bobPhone, err := env.WA.CreateAccount(ctx, "4915112300022", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(alicePhone.SaveContact(ctx, carol.JID(), "Carol by Alice", "Carol"))
	// Bob saved Carol first and Dave after her: his sync brings Carol's name before Dave's.
	must(bobPhone.SaveContact(ctx, carol.JID(), "Carol by Bob", "Carol"))
	must(bobPhone.SaveContact(ctx, dave.JID(), "Dave by Bob", "Dave"))

	alice := logInAccount(t, ctx, env, "alice", alicePhone)
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol by Alice (WA)")
	logInAccount(t, ctx, env, "bob", bobPhone)
	ghostNameIs(t, ctx, alice.client, daveGhost, "Dave by Bob (WA)")
	if name, err := alice.client.GetDisplayName(ctx, carolGhost); err != nil || name.DisplayName != "Carol by Alice (WA)" {
		t.Errorf("after Bob's sync Carol's ghost is named %v (%v), want Alice's saved name", name, err)
	}
	// Bob renaming Carol changes nothing; Alice renaming her does.
	must(bobPhone.SaveContact(ctx, carol.JID(), "Carol by Bob 2", "Carol"))
	must(alicePhone.SaveContact(ctx, carol.JID(), "Carol by Alice 2", "Carol"))
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol by Alice 2 (WA)")
}
