//go:build goolm

package encryption

import (
	"context"
	"slices"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestFindSharedRooms: the rooms whose outbound session a user's new device must end are the
// encrypted rooms the user is joined or invited to, in both databases. (The crypto machine asks on
// every device list change; an error there left new devices of a user unable to read what the
// bridge sent next.)
func TestFindSharedRooms(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := database.Open(ctx, string(d), testdb.New(t, d), 4, 2, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			if err = db.Upgrade(ctx); err != nil {
				t.Fatal(err)
			}
			s := NewStateStore(mautrix.NewMemoryStateStore().(appservice.StateStore), db.TextParamsDB(), dbutil.ZeroLogger(zerolog.Nop()))
			// The second time stands for the next start of the bridge.
			for range 2 {
				if err = s.Upgrade(ctx); err != nil {
					t.Fatal(err)
				}
			}
			alice, bob := id.UserID("@alice:example.org"), id.UserID("@bob:example.org")
			encrypted := &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}
			rooms := map[id.RoomID]struct {
				encrypted  bool
				membership event.Membership
			}{
				"!joined:example.org":      {true, event.MembershipJoin},
				"!invited:example.org":     {true, event.MembershipInvite},
				"!left:example.org":        {true, event.MembershipLeave},
				"!unencrypted:example.org": {false, event.MembershipJoin},
			}
			for room, r := range rooms {
				if r.encrypted {
					if err = s.SetEncryptionEvent(ctx, room, encrypted); err != nil {
						t.Fatal(err)
					}
				}
				if err = s.SetMembership(ctx, room, alice, r.membership); err != nil {
					t.Fatal(err)
				}
				if err = s.SetMembership(ctx, room, bob, event.MembershipJoin); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.FindSharedRooms(ctx, alice)
			if err != nil {
				t.Fatalf("FindSharedRooms failed: %v", err)
			}
			slices.Sort(got)
			if want := []id.RoomID{"!invited:example.org", "!joined:example.org"}; !slices.Equal(got, want) {
				t.Errorf("alice's shared rooms = %v, want %v", got, want)
			}
			if got, err = s.FindSharedRooms(ctx, "@carol:example.org"); err != nil || len(got) != 0 {
				t.Errorf("a stranger's shared rooms = %v, %v; want none", got, err)
			}
		})
	}
}
