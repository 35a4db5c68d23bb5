package bridge

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// testUser is a user with linked accounts of the given phones (oldest first) and a default.
func testUser(def string, phones ...string) (*User, []*Account) {
	user := &User{MXID: "@multi:example.org", row: &database.User{MXID: "@multi:example.org", DefaultLogin: def}}
	for _, phone := range phones {
		acct := &Account{User: user, loginRow: &database.UserLogin{UserMXID: user.MXID, Phone: phone, WAJID: types.NewADJID(phone, 0, 3)}}
		user.accounts = append(user.accounts, acct)
	}
	return user, user.accounts
}

// TestAccountForChat: a 1:1 chat acts through the account it belongs to, a group through an
// account known to be in it (the default first), anything else through the default.
func TestAccountForChat(t *testing.T) {
	user, accts := testUser("4915100000002", "4915100000001", "4915100000002", "4915100000003")
	anna, bert, cleo := accts[0], accts[1], accts[2]
	contact := types.NewJID("4917600000009", types.DefaultUserServer)
	group := types.NewJID("120363000000000001", types.GroupServer)
	dm := func(owner *Account) database.PortalKey {
		return database.NewPortalKey(contact, owner.WAJID())
	}
	if got := user.Default(); got != bert {
		t.Fatalf("Default = %s, want the stored default %s", got.Phone(), bert.Phone())
	}
	for _, c := range []struct {
		name string
		key  database.PortalKey
		want *Account
	}{
		{"no chat", database.PortalKey{}, bert},
		{"Anna's DM", dm(anna), anna},
		{"Cleo's DM", dm(cleo), cleo},
		{"DM of an account the user does not have", database.NewPortalKey(contact, types.NewJID("4915199999999", types.DefaultUserServer)), bert},
		{"group nobody is known to be in", database.NewPortalKey(group, types.EmptyJID), bert},
	} {
		if got := user.AccountForChat(c.key); got != c.want {
			t.Errorf("%s: AccountForChat = %s, want %s", c.name, got.Phone(), c.want.Phone())
		}
	}
	cleo.noteGroups(false, group)
	if got := user.AccountForChat(database.NewPortalKey(group, types.EmptyJID)); got != cleo {
		t.Errorf("group only Cleo's account is in: got %s", got.Phone())
	}
	anna.noteGroups(true, group)
	if got := user.AccountForChat(database.NewPortalKey(group, types.EmptyJID)); got != anna {
		t.Errorf("group Anna's (older) and Cleo's accounts are in: got %s, want the oldest", got.Phone())
	}
	bert.noteGroups(false, group)
	if got := user.AccountForChat(database.NewPortalKey(group, types.EmptyJID)); got != bert {
		t.Errorf("group the default account is in too: got %s, want the default", got.Phone())
	}
	if got := user.Account("+49 151 00000003"); got != cleo {
		t.Errorf("Account(+49 151 00000003) = %v, want Cleo's", got)
	}
	if got := user.Account("4915199999999"); got != nil {
		t.Errorf("Account of a number the user has not linked = %s", got.Phone())
	}
}

// TestDefaultFallsBackToOldest: a stored default that is no longer linked falls back to the
// oldest account.
func TestDefaultFallsBackToOldest(t *testing.T) {
	user, accts := testUser("4915199999999", "4915100000001", "4915100000002")
	if got := user.Default(); got != accts[0] {
		t.Errorf("Default = %s, want the oldest account", got.Phone())
	}
}

// TestTakeFromLogin: a trailing `from <number>` names the login a command acts through; other
// uses of "from" stay arguments.
func TestTakeFromLogin(t *testing.T) {
	user, accts := testUser("4915100000001", "4915100000001", "4915100000002")
	for _, c := range []struct {
		args     []string
		want     *Account
		wantArgs []string
	}{
		{[]string{"+4917600000002"}, accts[0], []string{"+4917600000002"}},
		{[]string{"+4917600000002", "from", "+49", "151", "00000002"}, accts[1], []string{"+4917600000002"}},
		{[]string{"Jo", "from", "Berlin"}, accts[0], []string{"Jo", "from", "Berlin"}},
		{[]string{"from"}, accts[0], []string{"from"}},
	} {
		ce := &commandEvent{user: user.Default(), args: c.args}
		if !ce.takeFromLogin(context.Background()) {
			t.Errorf("%q: refused", c.args)
			continue
		}
		if ce.user != c.want || !slices.Equal(ce.args, c.wantArgs) {
			t.Errorf("%q: login %s with %q, want %s with %q", c.args, ce.user.Phone(), ce.args, c.want.Phone(), c.wantArgs)
		}
	}
}

// TestGetUserLoadsOnce: lookups of a stored user that race each other (each reads the database
// without the cache's lock) all get the one cached user, with its stored fields and logins;
// loading all users at start-up keeps a user a lookup loaded first, and a user nothing is stored
// for is made in memory.
func TestGetUserLoadsOnce(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			br := newTestBridge(t, d, testdb.New(t, d))
			for _, u := range []struct {
				mxid  id.UserID
				phone string
			}{{"@alice:test.local", "4915112345678"}, {"@bob:test.local", "4915112345679"}} {
				if err := br.DB.User.Insert(ctx, &database.User{MXID: u.mxid, ManagementRoom: "!mgmt:test.local", DefaultLogin: u.phone}); err != nil {
					t.Fatal(err)
				}
				if err := br.DB.Login.Upsert(ctx, &database.UserLogin{UserMXID: u.mxid, Phone: u.phone, WAJID: types.NewADJID(u.phone, 0, 1)}); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]*User, 16)
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() {
					user, err := br.GetUser(ctx, "@alice:test.local")
					if err != nil {
						t.Error(err)
					}
					got[i] = user
				})
			}
			wg.Wait()
			alice := got[0]
			for _, user := range got {
				if user != alice {
					t.Fatal("concurrent lookups returned different users")
				}
			}
			if alice.ManagementRoom() != "!mgmt:test.local" || len(alice.Accounts()) != 1 || alice.Default().Phone() != "4915112345678" {
				t.Errorf("alice loaded as management room %q, %d accounts", alice.ManagementRoom(), len(alice.Accounts()))
			}

			users, logins, err := br.loadAllUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 2 || logins != 2 || users[0] != alice || users[1].MXID != "@bob:test.local" || users[1].Default().Phone() != "4915112345679" {
				t.Fatalf("loadAllUsers = %d users, %d logins; want the cached alice, then bob", len(users), logins)
			}
			if bob, err := br.GetUser(ctx, "@bob:test.local"); err != nil || bob != users[1] {
				t.Errorf("GetUser after loadAllUsers = %p, %v; want the loaded %p", bob, err, users[1])
			}
			carol, err := br.GetUser(ctx, "@carol:test.local")
			if err != nil || carol == nil || len(carol.Accounts()) != 0 {
				t.Fatalf("GetUser of a new user = %+v, %v", carol, err)
			}
		})
	}
}
