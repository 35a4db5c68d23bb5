package database_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestUndecryptableRequeue: an event handled without its room key waits in matrix_undecryptable;
// when its session arrives only that session's events of that room go back to pending, and
// resolving an event returns its notice once.
func TestUndecryptableRequeue(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		room, other := id.RoomID("!room:example.org"), id.RoomID("!other:example.org")
		rows := []*database.InboxEvent{
			{EventID: "$a", RoomID: room, Event: []byte(`{"type":"m.room.encrypted"}`)},
			{EventID: "$b", RoomID: room, Event: []byte(`{"type":"m.room.encrypted"}`)},
			{EventID: "$c", RoomID: other, Event: []byte(`{"type":"m.room.encrypted"}`)},
		}
		if _, err := db.Inbox.Enqueue(ctx, "txn1", rows); err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			if err := db.Inbox.MarkDone(ctx, row.Seq); err != nil {
				t.Fatal(err)
			}
		}
		must(t, db.Undecryptable.Put(ctx, "$a", room, "session1", "$notice"))
		must(t, db.Undecryptable.Put(ctx, "$b", room, "session2", ""))
		must(t, db.Undecryptable.Put(ctx, "$c", other, "session1", ""))

		n, err := db.Undecryptable.Requeue(ctx, room, "session1")
		if err != nil || n != 1 {
			t.Fatalf("Requeue = %d, %v; want 1 event", n, err)
		}
		pending, err := db.Inbox.Pending(ctx, room)
		if err != nil || len(pending) != 1 || pending[0].EventID != "$a" {
			t.Fatalf("pending after requeue = %v (%v), want only $a", pending, err)
		}
		if others, _ := db.Inbox.Pending(ctx, other); len(others) != 0 {
			t.Errorf("an event of another room with the same session ID was requeued: %v", others)
		}
		if n, _ = db.Undecryptable.Requeue(ctx, room, "session1"); n != 0 {
			t.Errorf("requeueing a pending event again counted %d", n)
		}
		notice, err := db.Undecryptable.Resolve(ctx, "$a")
		if err != nil || notice != "$notice" {
			t.Fatalf("Resolve = %q, %v; want the notice", notice, err)
		}
		if notice, err = db.Undecryptable.Resolve(ctx, "$a"); err != nil || notice != "" {
			t.Errorf("second Resolve = %q, %v; want nothing", notice, err)
		}
	})
}
