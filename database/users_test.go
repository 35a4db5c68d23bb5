package database_test

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestUserRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		if u, err := db.User.GetByMXID(ctx, "@nobody:example.org"); err != nil || u != nil {
			t.Fatalf("GetByMXID of unknown user = %v, %v; want nil, nil", u, err)
		}

		alice := &database.User{MXID: "@alice:example.org", ManagementRoom: "!mgmt:example.org", DefaultLogin: "4915112345678"}
		must(t, db.User.Insert(ctx, alice))
		bob := &database.User{MXID: "@bob:example.org"}
		must(t, db.User.Insert(ctx, bob))
		if err := db.User.Insert(ctx, &database.User{MXID: "@alice:example.org"}); err == nil {
			t.Fatal("inserting a second user with the same MXID succeeded")
		}

		got, err := db.User.GetByMXID(ctx, alice.MXID)
		must(t, err)
		if got == nil || got.DefaultLogin != alice.DefaultLogin || got.ManagementRoom != alice.ManagementRoom ||
			got.SpaceRoom != "" || !sameTime(got.CreatedAt, alice.CreatedAt) {
			t.Fatalf("GetByMXID returned %+v, want %+v", got, alice)
		}

		bob.SpaceRoom = "!space:example.org"
		bob.DoublePuppetOff = true
		must(t, db.User.Update(ctx, bob))
		got, err = db.User.GetByMXID(ctx, bob.MXID)
		must(t, err)
		if got.SpaceRoom != bob.SpaceRoom || !got.DoublePuppetOff || got.DefaultLogin != "" {
			t.Fatalf("after Update got %+v", got)
		}

		createdAt := alice.CreatedAt
		must(t, db.User.Upsert(ctx, &database.User{MXID: alice.MXID, DefaultLogin: "4915199999999"}))
		got, err = db.User.GetByMXID(ctx, alice.MXID)
		must(t, err)
		if got.DefaultLogin != "4915199999999" || got.ManagementRoom != "" || !sameTime(got.CreatedAt, createdAt) {
			t.Fatalf("after Upsert got %+v (created %v, want %v)", got, got.CreatedAt, createdAt)
		}

		// GetAllWithLogins (start-up) reads every user with a login, with all its fields; bob has
		// none yet.
		all, err := db.User.GetAllWithLogins(ctx)
		must(t, err)
		if len(all) != 0 {
			t.Fatalf("GetAllWithLogins without logins returned %+v", all)
		}
		must(t, db.Login.Upsert(ctx, &database.UserLogin{UserMXID: bob.MXID, Phone: "4915112345679", WAJID: types.NewADJID("4915112345679", 0, 1)}))
		all, err = db.User.GetAllWithLogins(ctx)
		must(t, err)
		if len(all) != 1 || all[0].MXID != bob.MXID || all[0].SpaceRoom != bob.SpaceRoom || !all[0].DoublePuppetOff {
			t.Fatalf("GetAllWithLogins returned %+v, want only bob with his fields", all)
		}
	})
}

func TestUserLogins(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		alice := &database.User{MXID: "@alice:example.org"}
		must(t, db.User.Insert(ctx, alice))
		must(t, db.User.Insert(ctx, &database.User{MXID: "@bob:example.org"}))

		first := &database.UserLogin{UserMXID: alice.MXID, Phone: "4915112345678", WAJID: types.NewADJID("4915112345678", 0, 7), PushName: "Alice"}
		second := &database.UserLogin{UserMXID: alice.MXID, Phone: "4915187654321", WAJID: types.NewADJID("4915187654321", 0, 3)}
		must(t, db.Login.Upsert(ctx, first))
		must(t, db.Login.Upsert(ctx, second))
		if err := db.Login.Upsert(ctx, &database.UserLogin{UserMXID: "@bob:example.org", Phone: "4915112345678", WAJID: first.WAJID}); err == nil {
			t.Fatal("a second login with the same device JID was stored")
		}
		if err := db.Login.Upsert(ctx, &database.UserLogin{UserMXID: "@nobody:example.org", Phone: "1", WAJID: types.NewADJID("1", 0, 1)}); err == nil {
			t.Fatal("a login of a user that is not stored was stored")
		}

		logins, err := db.Login.GetAllOf(ctx, alice.MXID)
		must(t, err)
		if len(logins) != 2 || logins[0].Phone != first.Phone || logins[0].WAJID != first.WAJID || logins[0].PushName != "Alice" ||
			logins[1].Phone != second.Phone || logins[1].WAJID != second.WAJID {
			t.Fatalf("GetAllOf = %+v, want both logins oldest first", logins)
		}

		// Linking the same phone again replaces the device and keeps the login's place.
		relinked := &database.UserLogin{UserMXID: alice.MXID, Phone: first.Phone, WAJID: types.NewADJID(first.Phone, 0, 9)}
		must(t, db.Login.Upsert(ctx, relinked))
		all, err := db.Login.GetAll(ctx)
		must(t, err)
		if len(all) != 2 || all[0].WAJID != relinked.WAJID || !sameTime(all[0].CreatedAt, first.CreatedAt) {
			t.Fatalf("GetAll after relinking = %+v, want the first login with the new device", all)
		}

		must(t, db.Login.Delete(ctx, alice.MXID, first.Phone))
		must(t, db.Login.Delete(ctx, alice.MXID, "000"))
		logins, err = db.Login.GetAllOf(ctx, alice.MXID)
		must(t, err)
		if len(logins) != 1 || logins[0].Phone != second.Phone {
			t.Fatalf("GetAllOf after Delete = %+v, want only the second login", logins)
		}
	})
}
