package database_test

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestPlaceholderRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		now := ms(time.Now())

		got, err := db.Placeholder.Get(ctx, key, "3EB0P")
		must(t, err)
		if got != nil {
			t.Fatalf("Get found %+v before any was stored", got)
		}
		ph := &database.Placeholder{Portal: key, WAID: "3EB0P", Sender: testDMJID, MXID: "$ph", Timestamp: now}
		must(t, db.Placeholder.Insert(ctx, ph))
		second := *ph
		second.MXID = "$other"
		must(t, db.Placeholder.Insert(ctx, &second)) // ignored: the message has its placeholder
		got, err = db.Placeholder.Get(ctx, key, "3EB0P")
		must(t, err)
		if got == nil || got.MXID != "$ph" || got.Sender != testDMJID || got.Portal != key || !got.Timestamp.Equal(now) {
			t.Fatalf("Get returned %+v, want %+v", got, ph)
		}
		must(t, db.Placeholder.Delete(ctx, key, "3EB0P"))
		got, err = db.Placeholder.Get(ctx, key, "3EB0P")
		must(t, err)
		if got != nil {
			t.Fatalf("Get found %+v after Delete", got)
		}
	})
}

// TestLookUpIncoming checks the one-query lookup of an incoming message: neither bridged nor
// waiting, waiting behind a placeholder, bridged, and a placeholder of another message not mixed in;
// the WhatsApp inbox's insert that answers the same check (EnqueueLookingUp) answers alike and
// stores the message as pending.
func TestLookUpIncoming(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		now := ms(time.Now())
		check := func(waID string, wantBridged bool, wantPlaceholder id.EventID) {
			t.Helper()
			bridged, ph, err := db.Placeholder.LookUpIncoming(ctx, key, waID)
			must(t, err)
			var got id.EventID
			if ph != nil {
				got = ph.MXID
				if ph.Portal != key || ph.WAID != waID || ph.Sender != testDMJID || !ph.Timestamp.Equal(now) || ph.Created.IsZero() {
					t.Errorf("placeholder of %s = %+v", waID, ph)
				}
			}
			if bridged != wantBridged || got != wantPlaceholder {
				t.Errorf("LookUpIncoming(%s) = %v, %q; want %v, %q", waID, bridged, got, wantBridged, wantPlaceholder)
			}

			row := waInboxEvent(key, waID)
			check, err := db.WAInbox.EnqueueLookingUp(ctx, row, nil)
			must(t, err)
			if check == nil {
				t.Fatalf("EnqueueLookingUp(%s) stored the row without an answer", waID)
			}
			got = ""
			if check.Placeholder != nil {
				got = check.Placeholder.MXID
				if ph == nil || *check.Placeholder != *ph {
					t.Errorf("EnqueueLookingUp(%s)'s placeholder = %+v, want %+v", waID, check.Placeholder, ph)
				}
			}
			if check.Bridged != wantBridged || got != wantPlaceholder {
				t.Errorf("EnqueueLookingUp(%s) = %v, %q; want %v, %q", waID, check.Bridged, got, wantBridged, wantPlaceholder)
			}
			stored, err := db.WAInbox.Get(ctx, row.Seq)
			must(t, err)
			if row.Seq == 0 || stored == nil || stored.State != database.InboxPending || stored.WAID != row.WAID || row.ReceivedAt.IsZero() {
				t.Errorf("EnqueueLookingUp(%s) stored %+v as %+v", waID, row, stored)
			}
		}
		check("3EB0N", false, "")
		must(t, db.Placeholder.Insert(ctx, &database.Placeholder{Portal: key, WAID: "3EB0P", Sender: testDMJID, MXID: "$ph", Timestamp: now}))
		check("3EB0P", false, "$ph")
		check("3EB0N", false, "")
		must(t, db.Message.Insert(ctx, &database.Message{Portal: key, WAID: "3EB0M", Sender: testDMJID, MXID: "$msg", MXRoom: "!dm:example.org", Timestamp: now}))
		check("3EB0M", true, "")
	})
}
