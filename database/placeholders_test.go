package database_test

import (
	"context"
	"testing"
	"time"

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
