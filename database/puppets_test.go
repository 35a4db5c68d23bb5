package database_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestPuppetRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		phone := types.NewJID("4915112345678", types.DefaultUserServer)
		lid := types.NewJID("98765432101234", types.HiddenUserServer)
		infoAt := ms(time.Now().Add(-time.Hour))
		p := &database.Puppet{JID: phone, LID: lid, Name: "Alice", NameSource: "contact", AvatarID: "av1",
			AvatarMXC: "mxc://example.org/abc", NameSet: true, ContactInfoUpdatedAt: infoAt}
		must(t, db.Puppet.Upsert(ctx, p))
		lidOnly := &database.Puppet{JID: types.NewJID("55555", types.HiddenUserServer), LID: types.NewJID("55555", types.HiddenUserServer), Name: "Unknown"}
		must(t, db.Puppet.Upsert(ctx, lidOnly))

		got, err := db.Puppet.GetByJID(ctx, types.NewADJID("4915112345678", 0, 3))
		must(t, err)
		if got == nil || got.JID != phone || got.LID != lid || got.Name != "Alice" || got.NameSource != "contact" ||
			got.AvatarID != "av1" || got.AvatarMXC != p.AvatarMXC || !got.NameSet || got.AvatarSet ||
			!got.ContactInfoUpdatedAt.Equal(infoAt) || got.CreatedAt.IsZero() {
			t.Fatalf("GetByJID returned %+v, want %+v", got, p)
		}
		byLID, err := db.Puppet.GetByLID(ctx, lid)
		must(t, err)
		if byLID == nil || byLID.JID != phone {
			t.Fatalf("GetByLID = %+v, want the phone puppet", byLID)
		}
		if none, err := db.Puppet.GetByJID(ctx, types.NewJID("1", types.DefaultUserServer)); err != nil || none != nil {
			t.Fatalf("GetByJID of unknown contact = %v, %v; want nil, nil", none, err)
		}

		p.Name, p.AvatarSet, p.LID = "Alice B", true, types.EmptyJID
		must(t, db.Puppet.Upsert(ctx, p))
		got, err = db.Puppet.GetByJID(ctx, phone)
		must(t, err)
		if got.Name != "Alice B" || !got.AvatarSet || !got.LID.IsEmpty() {
			t.Fatalf("after Upsert got %+v", got)
		}
		// A LID can belong to one puppet only.
		if err = db.Puppet.Upsert(ctx, &database.Puppet{JID: types.NewJID("4900", types.DefaultUserServer), LID: lidOnly.LID}); err == nil {
			t.Fatal("two puppets with the same LID were accepted")
		}

		// A LID-keyed puppet records the phone number learned later; one puppet per number.
		lidOnly.Phone = types.NewJID("4917700000001", types.DefaultUserServer)
		must(t, db.Puppet.Upsert(ctx, lidOnly))
		byPhone, err := db.Puppet.GetByPhone(ctx, types.NewADJID("4917700000001", 0, 2))
		must(t, err)
		if byPhone == nil || byPhone.JID != lidOnly.JID || byPhone.Phone != lidOnly.Phone || byPhone.Name != "Unknown" {
			t.Fatalf("GetByPhone = %+v, want the LID-keyed puppet with its phone", byPhone)
		}
		if got, err = db.Puppet.GetByJID(ctx, phone); err != nil || !got.Phone.IsEmpty() {
			t.Fatalf("phone puppet has phone %v (err %v), want none", got.Phone, err)
		}
		if err = db.Puppet.Upsert(ctx, &database.Puppet{JID: types.NewJID("66666", types.HiddenUserServer), Phone: lidOnly.Phone}); err == nil {
			t.Fatal("two puppets with the same phone were accepted")
		}

		all, err := db.Puppet.GetAll(ctx)
		must(t, err)
		if len(all) != 2 {
			t.Fatalf("GetAll returned %d puppets, want 2", len(all))
		}
		must(t, db.Puppet.Delete(ctx, lidOnly.JID))
		if gone, err := db.Puppet.GetByLID(ctx, lidOnly.LID); err != nil || gone != nil {
			t.Fatalf("GetByLID after Delete = %v, %v; want nil, nil", gone, err)
		}
	})
}
