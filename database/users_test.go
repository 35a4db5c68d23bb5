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

		device := types.NewADJID("4915112345678", 0, 7)
		alice := &database.User{MXID: "@alice:example.org", WAJID: device, Phone: "+4915112345678",
			PushName: "Alice", ManagementRoom: "!mgmt:example.org"}
		must(t, db.User.Insert(ctx, alice))
		bob := &database.User{MXID: "@bob:example.org"}
		must(t, db.User.Insert(ctx, bob))
		if err := db.User.Insert(ctx, &database.User{MXID: "@alice:example.org"}); err == nil {
			t.Fatal("inserting a second user with the same MXID succeeded")
		}

		got, err := db.User.GetByMXID(ctx, alice.MXID)
		must(t, err)
		if got == nil || got.WAJID != device || got.Phone != alice.Phone || got.PushName != "Alice" ||
			got.ManagementRoom != alice.ManagementRoom || got.SpaceRoom != "" || !sameTime(got.CreatedAt, alice.CreatedAt) {
			t.Fatalf("GetByMXID returned %+v, want %+v", got, alice)
		}
		byJID, err := db.User.GetByWAJID(ctx, device)
		must(t, err)
		if byJID == nil || byJID.MXID != alice.MXID {
			t.Fatalf("GetByWAJID(%s) = %+v, want alice", device, byJID)
		}
		loggedIn, err := db.User.GetAllLoggedIn(ctx)
		must(t, err)
		if len(loggedIn) != 1 || loggedIn[0].MXID != alice.MXID {
			t.Fatalf("GetAllLoggedIn = %v, want only alice", loggedIn)
		}

		bob.SpaceRoom = "!space:example.org"
		bob.PushName = "Bob"
		must(t, db.User.Update(ctx, bob))
		got, err = db.User.GetByMXID(ctx, bob.MXID)
		must(t, err)
		if got.SpaceRoom != bob.SpaceRoom || got.PushName != "Bob" || !got.WAJID.IsEmpty() {
			t.Fatalf("after Update got %+v", got)
		}

		createdAt := alice.CreatedAt
		must(t, db.User.Upsert(ctx, &database.User{MXID: alice.MXID, WAJID: device, PushName: "Alice 2"}))
		got, err = db.User.GetByMXID(ctx, alice.MXID)
		must(t, err)
		if got.PushName != "Alice 2" || got.ManagementRoom != "" || !sameTime(got.CreatedAt, createdAt) {
			t.Fatalf("after Upsert got %+v (created %v, want %v)", got, got.CreatedAt, createdAt)
		}
		must(t, db.User.Upsert(ctx, &database.User{MXID: "@carol:example.org"}))

		must(t, db.User.ClearLogin(ctx, alice.MXID))
		got, err = db.User.GetByMXID(ctx, alice.MXID)
		must(t, err)
		if !got.WAJID.IsEmpty() || got.PushName != "Alice 2" {
			t.Fatalf("after ClearLogin got %+v, want no WhatsApp JID and the rest kept", got)
		}
		loggedIn, err = db.User.GetAllLoggedIn(ctx)
		must(t, err)
		if len(loggedIn) != 0 {
			t.Fatalf("GetAllLoggedIn after ClearLogin = %v, want none", loggedIn)
		}
		if u, err := db.User.GetByWAJID(ctx, device); err != nil || u != nil {
			t.Fatalf("GetByWAJID after ClearLogin = %v, %v; want nil, nil", u, err)
		}
	})
}
