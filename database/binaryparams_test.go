package database_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestBinaryParametersAndJSONB: on PostgreSQL the bridge's own tables go through lib/pq's
// binary_parameters (one round trip per statement), while jsonb written from []byte (as
// mautrix's crypto store does) and mautrix's state store work through TextParamsDB.
// A connection string that sets binary_parameters itself is left alone.
func TestBinaryParametersAndJSONB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	uri := testdb.New(t, testdb.Postgres)
	db, err := database.Open(ctx, "postgres", uri, 4, 4, zerolog.Nop())
	must(t, err)
	defer db.Close()
	must(t, db.Upgrade(ctx))
	if db.TextParamsDB() == db.DB {
		t.Fatal("TextParamsDB is the binary-parameter pool")
	}
	// The bridge's tables take []byte parameters in binary form.
	var got []byte
	must(t, db.DB.QueryRow(ctx, "SELECT $1::bytea", []byte{0, 1, 0xff}).Scan(&got))
	if string(got) != "\x00\x01\xff" {
		t.Errorf("bytea round trip gave %x", got)
	}

	// mautrix's crypto store writes jsonb columns (ratchet_safety) from []byte: PostgreSQL refuses
	// that in binary form, and takes it through TextParamsDB.
	doc := []byte(`{"ratchet":1}`)
	var text string
	if err = db.DB.QueryRow(ctx, "SELECT $1::jsonb::text", doc).Scan(&text); err == nil {
		t.Log("PostgreSQL took binary []byte as jsonb; TextParamsDB would not be needed")
	}
	must(t, db.TextParamsDB().QueryRow(ctx, "SELECT $1::jsonb::text", doc).Scan(&text))
	if text != `{"ratchet": 1}` {
		t.Errorf("jsonb through TextParamsDB read back as %q", text)
	}
	store := sqlstatestore.NewSQLStateStore(db.TextParamsDB(), nil, false)
	must(t, store.Upgrade(ctx))
	room := id.RoomID("!room:example.org")
	levels := &event.PowerLevelsEventContent{Users: map[id.UserID]int{"@alice:example.org": 100}}
	must(t, store.SetPowerLevels(ctx, room, levels))
	read, err := store.GetPowerLevels(ctx, room)
	must(t, err)
	if read == nil || read.Users["@alice:example.org"] != 100 {
		t.Fatalf("power levels read back as %+v", read)
	}

	explicit, err := database.Open(ctx, "postgres", uri+" binary_parameters=no", 2, 2, zerolog.Nop())
	if err != nil {
		// A URL-form URI: set it as a query parameter instead.
		explicit, err = database.Open(ctx, "postgres", uri+"&binary_parameters=no", 2, 2, zerolog.Nop())
	}
	must(t, err)
	defer explicit.Close()
	if explicit.TextParamsDB() != explicit.DB {
		t.Error("a URI that sets binary_parameters itself still got a second pool")
	}
}
