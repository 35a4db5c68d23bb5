package database_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/database/upgrades"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestUpgradeMovesLoginsToUserLogins stores a logged-in user, a pending WhatsApp event and a kept
// history chunk the way version 15 did, upgrades, and checks that the login, its default and what
// belongs to it survive.
func TestUpgradeMovesLoginsToUserLogins(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := database.Open(ctx, string(d), testdb.New(t, d), 4, 2, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
			must(t, err)
			t.Cleanup(func() { _ = db.Close() })
			db.DB.UpgradeTable = upgrades.Table[:15]
			must(t, db.DB.Upgrade(ctx))

			const alice, bob = "@alice:example.org", "@bob:example.org"
			device := types.NewADJID("4915112345678", 0, 7)
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.DB.Exec(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`INSERT INTO users (mxid, wa_jid, phone, push_name, management_room, created_at, updated_at)
				VALUES ($1, $2, '4915112345678', 'Alice', '!mgmt:example.org', 1000, 2000)`, alice, device.String())
			exec(`INSERT INTO users (mxid, created_at, updated_at) VALUES ($1, 1000, 2000)`, bob)
			exec(`INSERT INTO whatsapp_inbox (user_mxid, portal_jid, portal_receiver, kind, version, payload, received_at)
				VALUES ($1, '4915187654321@s.whatsapp.net', '4915112345678@s.whatsapp.net', 'message', 1, '{}', 3000)`, alice)
			exec(`INSERT INTO history_chunks (user_mxid, sync_type, chunk_order, progress, data) VALUES ($1, 2, 1, 40, $2)`, alice, []byte("chunk"))

			db.DB.UpgradeTable = upgrades.Table
			must(t, db.Upgrade(ctx))

			user, err := db.User.GetByMXID(ctx, alice)
			must(t, err)
			if user == nil || user.DefaultLogin != "4915112345678" || user.ManagementRoom != "!mgmt:example.org" {
				t.Fatalf("user after upgrade = %+v, want default login 4915112345678 and the room kept", user)
			}
			logins, err := db.Login.GetAllOf(ctx, alice)
			must(t, err)
			if len(logins) != 1 || logins[0].Phone != "4915112345678" || logins[0].WAJID != device || logins[0].PushName != "Alice" ||
				logins[0].CreatedAt.UnixMilli() != 1000 {
				t.Fatalf("logins after upgrade = %+v, want the one login with device %s", logins, device)
			}
			if other, err := db.Login.GetAllOf(ctx, bob); err != nil || len(other) != 0 {
				t.Fatalf("logins of the user who was not logged in = %+v, %v; want none", other, err)
			}
			portals, err := db.WAInbox.PendingPortals(ctx)
			must(t, err)
			if len(portals) != 1 {
				t.Fatalf("pending portals = %v, want one", portals)
			}
			pending, err := db.WAInbox.Pending(ctx, portals[0])
			must(t, err)
			if len(pending) != 1 || pending[0].Login != "4915112345678" || pending[0].User != alice {
				t.Fatalf("pending WhatsApp events = %+v, want the one of alice's login", pending)
			}
			chunks, err := db.HistoryChunk.GetAll(ctx, alice, "4915112345678")
			must(t, err)
			if len(chunks) != 1 || string(chunks[0].Data) != "chunk" || chunks[0].Progress != 40 {
				t.Fatalf("history chunks of the login = %+v, want the kept one", chunks)
			}
		})
	}
}
