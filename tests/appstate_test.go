package tests

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// ghostNameIs polls the ghost's display name on the homeserver until it is want.
func ghostNameIs(t *testing.T, ctx context.Context, client *mautrix.Client, ghost id.UserID, want string) {
	t.Helper()
	var got string
	waitFor(t, ctx, "ghost "+ghost.String()+" to be named "+want, func() bool {
		if resp, err := client.GetDisplayName(ctx, ghost); err == nil {
			got = resp.DisplayName
		}
		return got == want
	})
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
	alice := logInAccount(t, ctx, env, "alice", acct)

	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your WhatsApp name is", "Alice Own"))
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol Saved (WA)")

	// The key share (a peer message from the phone) came before the sync, and made no room: the
	// user is in their management room only and has no invite.
	resp, err := alice.client.SyncRequest(ctx, 0, "", "", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Rooms.Invite) != 0 {
		t.Errorf("login left invites to %d room(s), want none", len(resp.Rooms.Invite))
	}
	for room := range resp.Rooms.Join {
		if room != alice.room {
			t.Errorf("login made the user join room %s besides the management room", room)
		}
	}

	sendText(t, ctx, alice.client, alice.room, "status")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Logged in as +4915112300001", "Alice Own"))

	// Renaming the contact on the phone renames the ghost at once.
	if err = acct.SaveContact(ctx, carol.JID(), "Carol Renamed", "Caro"); err != nil {
		t.Fatal(err)
	}
	ghostNameIs(t, ctx, alice.client, carolGhost, "Carol Renamed (WA)")

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
