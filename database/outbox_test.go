package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestOutboxReserveAndStates(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")

		msg := &database.OutgoingMessage{EventID: "$m1", Portal: key, WAID: "3EB0AAA"}
		stored, created, err := db.Outbox.Reserve(ctx, msg)
		must(t, err)
		if !created || stored.WAID != "3EB0AAA" || stored.State != database.OutboxPending || stored.CreatedAt.IsZero() {
			t.Fatalf("first Reserve = %+v, created=%v", stored, created)
		}
		// A retry of the same event (e.g. after a restart) gets the ID chosen the first time.
		stored, created, err = db.Outbox.Reserve(ctx, &database.OutgoingMessage{EventID: "$m1", Portal: key, WAID: "3EB0BBB"})
		must(t, err)
		if created || stored.WAID != "3EB0AAA" || stored.Portal != key {
			t.Fatalf("second Reserve = %+v, created=%v; want the first WhatsApp ID", stored, created)
		}
		_, _, err = db.Outbox.Reserve(ctx, &database.OutgoingMessage{EventID: "$m2", Portal: key, WAID: "3EB0CCC"})
		must(t, err)
		unknownPortal := database.NewPortalKey(types.NewJID("1", types.GroupServer), testUserJID)
		if _, _, err = db.Outbox.Reserve(ctx, &database.OutgoingMessage{EventID: "$m3", Portal: unknownPortal, WAID: "X"}); err == nil {
			t.Fatal("an outbox entry for an unknown portal was accepted")
		}

		pending, err := db.Outbox.Pending(ctx, key)
		must(t, err)
		if len(pending) != 2 || pending[0].EventID != "$m1" || pending[1].EventID != "$m2" {
			t.Fatalf("Pending = %v, want $m1 then $m2", pending)
		}

		must(t, db.Outbox.RecordAttempt(ctx, "$m1", errors.New("not connected")))
		got, err := db.Outbox.Get(ctx, "$m1")
		must(t, err)
		if got.Attempts != 1 || got.LastError != "not connected" || got.State != database.OutboxPending {
			t.Fatalf("after RecordAttempt = %+v", got)
		}
		must(t, db.Outbox.MarkSent(ctx, "$m1"))
		must(t, db.Outbox.MarkFailed(ctx, "$m2", errors.New("media too large")))
		pending, err = db.Outbox.Pending(ctx, key)
		must(t, err)
		if len(pending) != 0 {
			t.Fatalf("Pending after MarkSent/MarkFailed = %v", pending)
		}
		byWAID, err := db.Outbox.GetByWAID(ctx, key, "3EB0CCC")
		must(t, err)
		if byWAID == nil || byWAID.EventID != "$m2" || byWAID.State != database.OutboxFailed || byWAID.LastError != "media too large" {
			t.Fatalf("GetByWAID = %+v", byWAID)
		}

		must(t, db.Outbox.Delete(ctx, "$m1"))
		if gone, err := db.Outbox.Get(ctx, "$m1"); err != nil || gone != nil {
			t.Fatalf("Get after Delete = %v, %v", gone, err)
		}
		n, err := db.Outbox.Prune(ctx, -time.Second)
		must(t, err)
		if n != 1 {
			t.Fatalf("Prune removed %d rows, want 1", n)
		}
	})
}
