package database_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestStats counts portals with a room, ghosts, and the Matrix inbox's pending rows and their age,
// as the metrics endpoint shows them.
func TestStats(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		s, err := db.Stats(ctx)
		must(t, err)
		if s != (database.Stats{}) {
			t.Fatalf("empty database: %+v, want all zero", s)
		}
		alice := types.NewJID("4915112345678", types.DefaultUserServer)
		for i, mxid := range []id.RoomID{"!a:example.org", "", "!c:example.org"} {
			chat := types.NewJID("4917600000000"+string(rune('1'+i)), types.DefaultUserServer)
			must(t, db.Portal.Insert(ctx, &database.Portal{Key: database.NewPortalKey(chat, alice), MXID: mxid}))
			must(t, db.Puppet.Upsert(ctx, &database.Puppet{JID: chat}))
		}
		before := time.Now().Add(-time.Second)
		_, err = db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{
			{EventID: "$1", RoomID: "!a:example.org", Event: json.RawMessage(`{}`)},
			{EventID: "$2", RoomID: "!a:example.org", Event: json.RawMessage(`{}`)},
		})
		must(t, err)
		pending, err := db.Inbox.Pending(ctx, "!a:example.org")
		must(t, err)
		must(t, db.Inbox.MarkDone(ctx, pending[0].Seq))

		s, err = db.Stats(ctx)
		must(t, err)
		if s.Portals != 2 || s.Ghosts != 3 || s.InboxPending != 1 {
			t.Errorf("stats = %+v, want 2 portals with a room, 3 ghosts, 1 pending inbox row", s)
		}
		if s.InboxOldest.Before(before) || s.InboxOldest.After(time.Now()) {
			t.Errorf("oldest pending = %v, want the time of the enqueue", s.InboxOldest)
		}
		must(t, db.Ping(ctx))
	})
}
