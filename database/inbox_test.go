package database_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func inboxEvent(eventID id.EventID, roomID id.RoomID) *database.InboxEvent {
	content, _ := json.Marshal(map[string]any{"event_id": eventID, "room_id": roomID, "type": "m.room.message",
		"content": map[string]any{"msgtype": "m.text", "body": "hello " + string(eventID)}})
	return &database.InboxEvent{EventID: eventID, RoomID: roomID, Event: content}
}

func seqs(events []*database.InboxEvent) []id.EventID {
	out := make([]id.EventID, len(events))
	for i, evt := range events {
		out[i] = evt.EventID
	}
	return out
}

func sameIDs(a, b []id.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInboxEnqueueDedupAndOrder(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		const roomA, roomB = id.RoomID("!a:example.org"), id.RoomID("!b:example.org")

		first := []*database.InboxEvent{inboxEvent("$e1", roomA), inboxEvent("$e2", roomB), inboxEvent("$e3", roomA)}
		n, err := db.Inbox.Enqueue(ctx, "txn1", first)
		must(t, err)
		if n != 3 {
			t.Fatalf("Enqueue of a new transaction inserted %d events, want 3", n)
		}
		if !(first[0].Seq < first[1].Seq && first[1].Seq < first[2].Seq) {
			t.Fatalf("seq not increasing in arrival order: %d, %d, %d", first[0].Seq, first[1].Seq, first[2].Seq)
		}

		// The homeserver sends the same transaction again: nothing is stored twice.
		n, err = db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{inboxEvent("$e1", roomA), inboxEvent("$e2", roomB), inboxEvent("$e3", roomA)})
		must(t, err)
		if n != 0 {
			t.Fatalf("Enqueue of a repeated transaction inserted %d events, want 0", n)
		}
		// The homeserver pushes txn1 again with an event that arrived since (Dendrite, after a
		// failed push): the new event is stored, and says so.
		rebatched := []*database.InboxEvent{inboxEvent("$e1", roomA), inboxEvent("$e3", roomA), inboxEvent("$e5", roomB)}
		n, err = db.Inbox.Enqueue(ctx, "txn1", rebatched)
		must(t, err)
		if n != 1 || rebatched[0].Seq != 0 || rebatched[1].Seq != 0 || rebatched[2].Seq <= first[2].Seq || !rebatched[2].RepeatedTxn {
			t.Fatalf("repeated transaction with a new event: inserted %d, rows %+v; want only $e5, marked as from a repeated transaction", n, rebatched[2])
		}
		if first[0].RepeatedTxn {
			t.Fatalf("an event of a new transaction is marked as from a repeated one")
		}
		// Another transaction repeats $e2 and brings $e4: only $e4 is new.
		second := []*database.InboxEvent{inboxEvent("$e2", roomB), inboxEvent("$e4", roomA)}
		n, err = db.Inbox.Enqueue(ctx, "txn2", second)
		must(t, err)
		if n != 1 || second[0].Seq != 0 || second[1].Seq <= rebatched[2].Seq || second[1].RepeatedTxn {
			t.Fatalf("Enqueue with a repeated event inserted %d (seqs %d, %d), want only $e4 after $e3",
				n, second[0].Seq, second[1].Seq)
		}
		var total int
		must(t, db.DB.QueryRow(ctx, "SELECT COUNT(*) FROM matrix_inbox").Scan(&total))
		if total != 5 {
			t.Fatalf("inbox holds %d rows, want 5", total)
		}
		if already, err := db.Txn.MarkProcessed(ctx, "txn2"); err != nil || !already {
			t.Fatalf("Enqueue did not mark its transaction processed: %v, %v", already, err)
		}

		rooms, err := db.Inbox.PendingRooms(ctx)
		must(t, err)
		if len(rooms) != 2 || rooms[0] != roomA || rooms[1] != roomB {
			t.Fatalf("PendingRooms = %v, want [%s %s]", rooms, roomA, roomB)
		}
		pendingA, err := db.Inbox.Pending(ctx, roomA)
		must(t, err)
		if got := seqs(pendingA); !sameIDs(got, []id.EventID{"$e1", "$e3", "$e4"}) {
			t.Fatalf("Pending(A) = %v, want $e1 $e3 $e4", got)
		}
		e1 := pendingA[0]
		if e1.TxnID != "txn1" || e1.State != database.InboxPending || e1.Attempts != 0 || e1.ReceivedAt.IsZero() {
			t.Fatalf("pending row = %+v", e1)
		}
		var decoded map[string]any
		must(t, json.Unmarshal(e1.Event, &decoded))
		if decoded["content"].(map[string]any)["body"] != "hello $e1" {
			t.Fatalf("event JSON did not round-trip: %s", e1.Event)
		}

		must(t, db.Inbox.RecordAttempt(ctx, e1.Seq, errors.New("WhatsApp unreachable")))
		got, err := db.Inbox.Get(ctx, e1.Seq)
		must(t, err)
		if got.Attempts != 1 || got.LastError != "WhatsApp unreachable" || got.State != database.InboxPending {
			t.Fatalf("after RecordAttempt row = %+v", got)
		}
		must(t, db.Inbox.MarkDone(ctx, e1.Seq))
		must(t, db.Inbox.MarkFailed(ctx, pendingA[1].Seq, errors.New("unsupported event")))
		pendingA, err = db.Inbox.Pending(ctx, roomA)
		must(t, err)
		if got := seqs(pendingA); !sameIDs(got, []id.EventID{"$e4"}) {
			t.Fatalf("Pending(A) after MarkDone/MarkFailed = %v, want $e4", got)
		}
		failed, err := db.Inbox.GetByEventID(ctx, "$e3")
		must(t, err)
		if failed.State != database.InboxFailed || failed.LastError != "unsupported event" {
			t.Fatalf("failed row = %+v", failed)
		}
		if none, err := db.Inbox.GetByEventID(ctx, "$nope"); err != nil || none != nil {
			t.Fatalf("GetByEventID of unknown event = %v, %v", none, err)
		}

		// Done and failed rows are pruned; pending ones stay however old they are.
		pruned, err := db.Inbox.Prune(ctx, -time.Second)
		must(t, err)
		if pruned != 2 {
			t.Fatalf("Prune removed %d rows, want 2", pruned)
		}
		rooms, err = db.Inbox.PendingRooms(ctx)
		must(t, err)
		if len(rooms) != 2 {
			t.Fatalf("PendingRooms after Prune = %v", rooms)
		}
	})
}

func TestInboxEnqueueIsOneTransaction(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		// A failure after Enqueue inside the same database transaction undoes the events and the mark.
		errLater := errors.New("failure after enqueue")
		err := db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
			n, err := db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{inboxEvent("$e1", "!a:example.org")})
			if err != nil || n != 1 {
				t.Errorf("Enqueue in transaction = %d, %v", n, err)
			}
			return errLater
		})
		if !errors.Is(err, errLater) {
			t.Fatalf("DoTxn returned %v", err)
		}
		if processed, err := db.Txn.IsProcessed(ctx, "txn1"); err != nil || processed {
			t.Fatalf("rolled-back transaction is marked processed: %v, %v", processed, err)
		}
		if evt, err := db.Inbox.GetByEventID(ctx, "$e1"); err != nil || evt != nil {
			t.Fatalf("rolled-back event is in the inbox: %v, %v", evt, err)
		}
		// The homeserver's retry is then accepted in full.
		n, err := db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{inboxEvent("$e1", "!a:example.org")})
		must(t, err)
		if n != 1 {
			t.Fatalf("retry after rollback inserted %d events, want 1", n)
		}

		// An event without ID is refused before anything is written.
		_, err = db.Inbox.Enqueue(ctx, "txn2", []*database.InboxEvent{inboxEvent("$e2", "!a:example.org"), {RoomID: "!a:example.org"}})
		if !errors.Is(err, database.ErrInboxEventWithoutID) {
			t.Fatalf("Enqueue of an event without ID returned %v", err)
		}
		if processed, err := db.Txn.IsProcessed(ctx, "txn2"); err != nil || processed {
			t.Fatalf("refused transaction is marked processed: %v, %v", processed, err)
		}
	})
}

func TestInboxEnqueueConcurrentRetries(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		const goroutines = 16
		results := make(chan int, goroutines)
		errs := make(chan error, goroutines)
		start := make(chan struct{})
		for i := range goroutines {
			go func() {
				<-start
				// Half deliver the transaction itself, half another transaction repeating its events.
				txnID := "txn-a"
				if i%2 == 1 {
					txnID = "txn-b"
				}
				n, err := db.Inbox.Enqueue(ctx, txnID, []*database.InboxEvent{
					inboxEvent("$x1", "!a:example.org"), inboxEvent("$x2", "!a:example.org")})
				results <- n
				errs <- err
			}()
		}
		close(start)
		total := 0
		for range goroutines {
			total += <-results
			if err := <-errs; err != nil {
				t.Errorf("concurrent Enqueue failed: %v", err)
			}
		}
		pending, err := db.Inbox.Pending(ctx, "!a:example.org")
		must(t, err)
		if total != 2 || !sameIDs(seqs(pending), []id.EventID{"$x1", "$x2"}) {
			t.Fatalf("concurrent deliveries inserted %d events, inbox holds %v; want each event once", total, seqs(pending))
		}
	})
}

// TestInboxEnqueueOneEvent: a transaction of one event (one statement on PostgreSQL) is stored with
// everything it carries, a repeat of the transaction stores nothing, the same transaction ID with
// another event stores that event, and a new transaction that repeats the event is marked
// processed without storing it again.
func TestInboxEnqueueOneEvent(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		const room = id.RoomID("!a:example.org")
		earlier := inboxEvent("$earlier", room)
		_, err := db.Inbox.Enqueue(ctx, "txn0", []*database.InboxEvent{earlier})
		must(t, err)

		evt := inboxEvent("$one", room)
		evt.HandleBefore = earlier.Seq
		before := time.Now()
		n, err := db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{evt})
		must(t, err)
		if n != 1 || evt.Seq <= earlier.Seq || evt.TxnID != "txn1" || evt.State != database.InboxPending || evt.Arrived.Before(before) {
			t.Fatalf("Enqueue of one event = %d, row %+v", n, evt)
		}
		got, err := db.Inbox.GetByEventID(ctx, "$one")
		must(t, err)
		if got == nil || got.Seq != evt.Seq || got.TxnID != "txn1" || got.HandleBefore != earlier.Seq || string(got.Event) != string(evt.Event) || got.ReceivedAt.IsZero() {
			t.Fatalf("stored row = %+v, want it as enqueued", got)
		}
		if !got.Arrived.IsZero() {
			t.Errorf("a row read from the database has an arrival time of this process: %v", got.Arrived)
		}

		again := inboxEvent("$one", room)
		if n, err = db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{again}); err != nil || n != 0 || again.Seq != 0 {
			t.Fatalf("repeated transaction: %d, %v, seq %d; want nothing stored", n, err, again.Seq)
		}
		if evt.RepeatedTxn {
			t.Fatalf("the event of a new transaction is marked as from a repeated one")
		}
		// The same transaction ID with another event (Dendrite after a failed push): stored.
		later := inboxEvent("$later", room)
		if n, err = db.Inbox.Enqueue(ctx, "txn1", []*database.InboxEvent{later}); err != nil || n != 1 || later.Seq <= evt.Seq || !later.RepeatedTxn {
			t.Fatalf("repeated transaction with a new event: %d, %v, row %+v; want it stored, marked as from a repeated transaction", n, err, later)
		}
		repeat := inboxEvent("$one", room)
		if n, err = db.Inbox.Enqueue(ctx, "txn2", []*database.InboxEvent{repeat}); err != nil || n != 0 || repeat.Seq != 0 {
			t.Fatalf("new transaction repeating the event: %d, %v, seq %d; want nothing stored", n, err, repeat.Seq)
		}
		if processed, err := db.Txn.IsProcessed(ctx, "txn2"); err != nil || !processed {
			t.Fatalf("the transaction that repeated an event is not marked processed: %v, %v", processed, err)
		}
		var total int
		must(t, db.DB.QueryRow(ctx, "SELECT COUNT(*) FROM matrix_inbox").Scan(&total))
		if total != 3 {
			t.Fatalf("inbox holds %d rows, want 3", total)
		}
	})
}

// TestInboxEnqueueTellsWhetherBridged: storing an event also tells whether the message map has a
// row of it (the homeserver pushed again an event bridged earlier, whose inbox row was pruned
// since), for a transaction of one event and of several, so that the first handling of a new
// event need not look it up.
func TestInboxEnqueueTellsWhetherBridged(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		const room = id.RoomID("!dm:example.org")
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		must(t, db.Message.Insert(ctx, &database.Message{Portal: key, WAID: "3EB0A", Sender: testUserJID,
			MXID: "$bridged", MXRoom: room, Timestamp: ms(time.Now()), IsFromMatrix: true}))

		for i, txn := range [][]*database.InboxEvent{
			{inboxEvent("$bridged", room)},
			{inboxEvent("$new", room)},
			{inboxEvent("$new2", room), inboxEvent("$bridged2", room)},
		} {
			if i == 2 {
				must(t, db.Message.Insert(ctx, &database.Message{Portal: key, WAID: "3EB0B", Sender: testUserJID,
					MXID: "$bridged2", MXRoom: room, Timestamp: ms(time.Now()), IsFromMatrix: true}))
			}
			n, err := db.Inbox.Enqueue(ctx, "txn"+string(rune('a'+i)), txn)
			must(t, err)
			if n != len(txn) {
				t.Fatalf("transaction %d: %d stored, want %d", i, n, len(txn))
			}
			for _, evt := range txn {
				want := !strings.HasPrefix(string(evt.EventID), "$bridged")
				if evt.Unbridged != want {
					t.Errorf("%s: Unbridged = %v, want %v", evt.EventID, evt.Unbridged, want)
				}
			}
		}
		got, err := db.Inbox.GetByEventID(ctx, "$new")
		must(t, err)
		if got.Unbridged {
			t.Error("a row read back from the database claims to be known unbridged")
		}
	})
}
