package database

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

var (
	heldTestUser    = types.NewJID("4911111111", types.DefaultUserServer)
	heldTestContact = types.NewJID("4915112345678", types.DefaultUserServer)
)

// statementCounter counts the statements a Database runs (dbutil's query log), passing each on.
type statementCounter struct {
	dbutil.DatabaseLogger
	n atomic.Int64
}

func (c *statementCounter) QueryTiming(ctx context.Context, method, query string, args []any, nrows int, duration time.Duration, err error) {
	switch method {
	case "Exec", "Query", "QueryRow":
		c.n.Add(1)
	}
	c.DatabaseLogger.QueryTiming(ctx, method, query, args, nrows, duration, err)
}

// openHeldTestDB opens a fresh database of dialect d whose held rows wait delay for a carrier,
// with a portal for heldTestContact, and returns it with that portal's key.
func openHeldTestDB(t *testing.T, d testdb.Dialect, delay time.Duration) (*Database, PortalKey) {
	db, key, _ := openCountedHeldTestDB(t, d, delay, 8)
	return db, key
}

// openCountedHeldTestDB is openHeldTestDB with at most maxOpen connections, also returning the
// counter of the statements it runs.
func openCountedHeldTestDB(t *testing.T, d testdb.Dialect, delay time.Duration, maxOpen int) (*Database, PortalKey, *statementCounter) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, string(d), testdb.New(t, d), maxOpen, 2, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	db.held.delay = delay
	counter := &statementCounter{DatabaseLogger: db.DB.Log}
	db.DB.Log = counter
	t.Cleanup(func() { _ = db.Close() })
	if err = db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	key := NewPortalKey(heldTestContact, heldTestUser)
	if err = db.Portal.Insert(ctx, &Portal{Key: key, MXID: "!dm:example.org", Name: "dm"}); err != nil {
		t.Fatal(err)
	}
	return db, key, counter
}

func heldTestMessage(key PortalKey, waID string, mxid id.EventID) *Message {
	return &Message{Portal: key, WAID: waID, Sender: heldTestContact, SenderMXID: "@whatsapp_4915112345678:example.org",
		MXID: mxid, MXRoom: "!dm:example.org", Timestamp: time.UnixMilli(time.Now().UnixMilli())}
}

func heldTestInboxEvent(key PortalKey, waID string) *WhatsAppInboxEvent {
	return &WhatsAppInboxEvent{User: "@alice:example.org", Portal: key, Kind: "message", Version: 1,
		WAID: types.MessageID(waID), Payload: []byte(`{}`)}
}

// stored reads, bypassing the held rows, whether the message map has waID and whether the
// WhatsApp inbox still has row seq: what a crash at this moment would leave.
func stored(t *testing.T, db *Database, key PortalKey, waID string, seq int64) (mapped, inboxRow bool) {
	t.Helper()
	jid, receiver := key.sqlArgs()
	ctx := context.Background()
	err := db.DB.RawDB.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM messages WHERE portal_jid=$1 AND portal_receiver=$2 AND wa_id=$3)`,
		jid, receiver, waID).Scan(&mapped)
	if err == nil {
		err = db.DB.RawDB.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM whatsapp_inbox WHERE seq=$1)`, seq).Scan(&inboxRow)
	}
	if err != nil {
		t.Fatal(err)
	}
	return mapped, inboxRow
}

// enqueueTestMessage stores a WhatsApp message in the inbox as the bridge does and returns its row.
func enqueueTestMessage(t *testing.T, db *Database, key PortalKey, waID string) (*WhatsAppInboxEvent, *IncomingCheck) {
	t.Helper()
	evt := heldTestInboxEvent(key, waID)
	check, err := db.WAInbox.EnqueueLookingUp(context.Background(), evt, nil)
	if err != nil || check == nil {
		t.Fatalf("EnqueueLookingUp(%s) = %v, %v", waID, check, err)
	}
	return evt, check
}

// TestHeldRowRidesWithNextMessage: a WhatsApp message's map row and inbox settlement are not
// written on their own but by the next message's insert; the duplicate check of the same message
// delivered again sees the held row; a read of the message map sees a held row.
func TestHeldRowRidesWithNextMessage(t *testing.T) {
	t.Parallel()
	db, key, statements := openCountedHeldTestDB(t, testdb.Postgres, time.Hour, 8)
	ctx := context.Background()

	first, _ := enqueueTestMessage(t, db, key, "3EB0A")
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(first.Seq)); err != nil {
		t.Fatal(err)
	}
	if mapped, pending := stored(t, db, key, "3EB0A", first.Seq); mapped || !pending {
		t.Fatalf("right after InsertHeld: mapped %t, inbox row %t; want the write held", mapped, pending)
	}
	before := statements.n.Load()
	second, check := enqueueTestMessage(t, db, key, "3EB0B")
	if check.Bridged {
		t.Fatal("the next message reads as bridged")
	} else if n := statements.n.Load() - before; n != 1 {
		t.Fatalf("storing the next message took %d statements; want 1, carrying the held write", n)
	}
	if mapped, pending := stored(t, db, key, "3EB0A", first.Seq); !mapped || pending {
		t.Fatalf("after the next message's insert: mapped %t, inbox row %t; want the held write carried", mapped, pending)
	}
	if n := db.held.outstanding.Load(); n != 0 {
		t.Fatalf("%d rows still held", n)
	}

	// The same message delivered again while its row is held: its duplicate check sees the row.
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0B", "$b"), db.WAInbox.MarkDoneStatement(second.Seq)); err != nil {
		t.Fatal(err)
	}
	again, check := enqueueTestMessage(t, db, key, "3EB0B")
	if !check.Bridged {
		t.Fatal("a message delivered again while its map row was held reads as not bridged")
	}
	if mapped, pending := stored(t, db, key, "3EB0B", second.Seq); !mapped || pending {
		t.Fatalf("after the repeat's insert: mapped %t, inbox row %t", mapped, pending)
	}

	// A read of the message map writes the held rows first.
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0C", "$c"), db.WAInbox.MarkDoneStatement(again.Seq)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Message.GetByMXID(ctx, "$c"); err != nil || got == nil || got.WAID != "3EB0C" {
		t.Fatalf("GetByMXID of a held row = %+v, %v", got, err)
	}
	if mapped, pending := stored(t, db, key, "3EB0C", again.Seq); !mapped || pending {
		t.Fatalf("after a read: mapped %t, inbox row %t", mapped, pending)
	}
}

// TestHeldRowRidesWithNextTransaction: a Matrix message's map row and inbox mark ride with the
// next appservice transaction's insert; the same event delivered again is checked after the held
// row is written.
func TestHeldRowRidesWithNextTransaction(t *testing.T) {
	t.Parallel()
	db, key, statements := openCountedHeldTestDB(t, testdb.Postgres, time.Hour, 8)
	ctx := context.Background()
	state := func(eventID id.EventID) (mapped bool, state string) {
		t.Helper()
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.DB.RawDB.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM messages WHERE mxid=$1)`, string(eventID)).Scan(&mapped))
		must(db.DB.RawDB.QueryRowContext(ctx, `SELECT state FROM matrix_inbox WHERE event_id=$1`, string(eventID)).Scan(&state))
		return mapped, state
	}
	enqueue := func(txnID string, eventID id.EventID) *InboxEvent {
		t.Helper()
		evt := &InboxEvent{EventID: eventID, RoomID: "!dm:example.org", Event: []byte(`{}`)}
		n, err := db.Inbox.Enqueue(ctx, txnID, []*InboxEvent{evt})
		if err != nil || n != 1 {
			t.Fatalf("Enqueue(%s) = %d, %v", eventID, n, err)
		}
		return evt
	}

	first := enqueue("txn1", "$m1")
	msg := heldTestMessage(key, "mw-1", "$m1")
	msg.IsFromMatrix = true
	if err := db.Message.InsertHeld(ctx, msg, db.Inbox.MarkDoneStatement(first.Seq)); err != nil {
		t.Fatal(err)
	}
	if mapped, st := state("$m1"); mapped || st != "pending" {
		t.Fatalf("right after InsertHeld: mapped %t, inbox %s; want the write held", mapped, st)
	}
	before := statements.n.Load()
	second := enqueue("txn2", "$m2")
	if !second.Unbridged {
		t.Fatal("the next event reads as bridged")
	} else if n := statements.n.Load() - before; n != 1 {
		t.Fatalf("storing the next transaction took %d statements; want 1, carrying the held write", n)
	}
	if mapped, st := state("$m1"); !mapped || st != "done" {
		t.Fatalf("after the next transaction: mapped %t, inbox %s; want the held write carried", mapped, st)
	}

	// The same event in a new transaction while its row is held: not stored again.
	msg = heldTestMessage(key, "mw-2", "$m2")
	if err := db.Message.InsertHeld(ctx, msg, db.Inbox.MarkDoneStatement(second.Seq)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Inbox.Enqueue(ctx, "txn3", []*InboxEvent{{EventID: "$m2", RoomID: "!dm:example.org", Event: []byte(`{}`)}}); err != nil || n != 0 {
		t.Fatalf("Enqueue of the same event again = %d, %v; want 0 stored", n, err)
	}
	if mapped, st := state("$m2"); !mapped || st != "done" {
		t.Fatalf("after the repeat: mapped %t, inbox %s", mapped, st)
	}

	// A WhatsApp message's row held under the event ID the homeserver then pushes: the event's
	// check ("not bridged yet") sees the held row.
	waEvt, _ := enqueueTestMessage(t, db, key, "3EB0E")
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0E", "$echo"), db.WAInbox.MarkDoneStatement(waEvt.Seq)); err != nil {
		t.Fatal(err)
	}
	echo := enqueue("txn4", "$echo")
	if echo.Unbridged {
		t.Fatal("an event whose map row was held reads as not bridged")
	}
}

// TestHeldRowWrittenWithoutCarrier: with no statement to ride along with, the row is written on
// its own after the delay; on SQLite it is written at once; a clean close writes held rows.
func TestHeldRowWrittenWithoutCarrier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		db, key := openHeldTestDB(t, testdb.Postgres, 20*time.Millisecond)
		evt, _ := enqueueTestMessage(t, db, key, "3EB0A")
		if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(evt.Seq)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if mapped, pending := stored(t, db, key, "3EB0A", evt.Seq); mapped && !pending {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("10 s after InsertHeld: mapped %t, inbox row %t", mapped, pending)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		db, key := openHeldTestDB(t, testdb.SQLite, time.Hour)
		evt, _ := enqueueTestMessage(t, db, key, "3EB0A")
		if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(evt.Seq)); err != nil {
			t.Fatal(err)
		}
		if mapped, pending := stored(t, db, key, "3EB0A", evt.Seq); !mapped || pending {
			t.Fatalf("on SQLite: mapped %t, inbox row %t; want it written at once", mapped, pending)
		}
	})
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		uri := testdb.New(t, testdb.Postgres)
		db, err := Open(ctx, "postgres", uri, 8, 2, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		db.held.delay = time.Hour
		if err = db.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		key := NewPortalKey(heldTestContact, heldTestUser)
		if err = db.Portal.Insert(ctx, &Portal{Key: key, MXID: "!dm:example.org"}); err != nil {
			t.Fatal(err)
		}
		evt, _ := enqueueTestMessage(t, db, key, "3EB0A")
		if err = db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(evt.Seq)); err != nil {
			t.Fatal(err)
		}
		if err = db.Close(); err != nil {
			t.Fatal(err)
		}
		reopened, err := Open(ctx, "postgres", uri, 8, 2, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reopened.Close() })
		if mapped, pending := stored(t, reopened, key, "3EB0A", evt.Seq); !mapped || pending {
			t.Fatalf("after Close and a new Open: mapped %t, inbox row %t", mapped, pending)
		}
	})
}

// TestHeldRowRefused: a held row the database refuses (its portal is gone) neither makes the next
// message's insert fail nor blocks the map: it is dropped and its event settled.
func TestHeldRowRefused(t *testing.T) {
	t.Parallel()
	db, key := openHeldTestDB(t, testdb.Postgres, time.Hour)
	ctx := context.Background()
	gone := NewPortalKey(types.NewJID("4917000000000", types.DefaultUserServer), heldTestUser)
	orphan, _ := enqueueTestMessage(t, db, gone, "3EB0X")
	if err := db.Message.InsertHeld(ctx, heldTestMessage(gone, "3EB0X", "$x"), db.WAInbox.MarkDoneStatement(orphan.Seq)); err != nil {
		t.Fatal(err)
	}
	first, _ := enqueueTestMessage(t, db, key, "3EB0A") // runs again without the held row
	if mapped, pending := stored(t, db, key, "3EB0A", first.Seq); mapped || !pending {
		t.Fatalf("the next message: mapped %t, stored %t; want it stored", mapped, pending)
	}
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(first.Seq)); err != nil {
		t.Fatal(err)
	}
	if exists, err := db.Message.Exists(ctx, key, "3EB0A"); err != nil || !exists {
		t.Fatalf("Exists after a refused held row = %t, %v", exists, err)
	}
	if mapped, pending := stored(t, db, gone, "3EB0X", orphan.Seq); mapped || pending {
		t.Fatalf("the refused row: mapped %t, inbox row %t; want it dropped and its event settled", mapped, pending)
	}
	if n := db.held.outstanding.Load(); n != 0 {
		t.Fatalf("%d rows still held", n)
	}

	// A value the database cannot store (a NUL character in text: SQLSTATE 22021) is refused the
	// same way, without holding up the next row.
	bad, _ := enqueueTestMessage(t, db, key, "3EB0N")
	badRow := heldTestMessage(key, "3EB0N", "$n")
	badRow.Media = "caption\x00"
	if err := db.Message.InsertHeld(ctx, badRow, db.WAInbox.MarkDoneStatement(bad.Seq)); err != nil {
		t.Fatal(err)
	}
	next, _ := enqueueTestMessage(t, db, key, "3EB0M")
	if err := db.Message.InsertHeld(ctx, heldTestMessage(key, "3EB0M", "$m"), db.WAInbox.MarkDoneStatement(next.Seq)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Message.GetByMXID(ctx, "$m"); err != nil || got == nil {
		t.Fatalf("GetByMXID of the row after a refused one = %+v, %v", got, err)
	}
	if mapped, pending := stored(t, db, key, "3EB0N", bad.Seq); mapped || pending {
		t.Fatalf("the row with a NUL: mapped %t, inbox row %t; want it dropped and its event settled", mapped, pending)
	}
}

// TestHeldRowsInsideTransaction: a read inside a transaction does not write held rows (it would
// need a second connection: with a pool of one it would wait forever); the transaction's begin
// through the portal writes them first, and a read after it sees them.
func TestHeldRowsInsideTransaction(t *testing.T) {
	t.Parallel()
	db, key, _ := openCountedHeldTestDB(t, testdb.Postgres, time.Hour, 1)
	evt, _ := enqueueTestMessage(t, db, key, "3EB0A")
	if err := db.Message.InsertHeld(context.Background(), heldTestMessage(key, "3EB0A", "$a"), db.WAInbox.MarkDoneStatement(evt.Seq)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		_, err := db.Message.Exists(ctx, key, "3EB0B")
		return err
	})
	if err != nil {
		t.Fatalf("a read inside a transaction with a row held: %v", err)
	}
	if exists, err := db.Message.Exists(ctx, key, "3EB0A"); err != nil || !exists {
		t.Fatalf("Exists after the transaction = %t, %v", exists, err)
	}
}

// TestHeldRowsUnderConcurrency: portals holding rows while other messages are stored and the map
// is read, all at once; afterwards every message is mapped and every inbox row settled.
func TestHeldRowsUnderConcurrency(t *testing.T) {
	t.Parallel()
	db, key := openHeldTestDB(t, testdb.Postgres, 5*time.Millisecond)
	ctx := context.Background()
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	seqs := make([][]int64, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				waID := fmt.Sprintf("3EB0%d-%d", w, i)
				evt := heldTestInboxEvent(key, waID)
				check, err := db.WAInbox.EnqueueLookingUp(ctx, evt, nil)
				if err == nil && (check == nil || check.Bridged) {
					err = fmt.Errorf("check of %s = %+v", waID, check)
				}
				if err == nil {
					seqs[w] = append(seqs[w], evt.Seq)
					err = db.Message.InsertHeld(ctx, heldTestMessage(key, waID, id.EventID("$"+waID)), db.WAInbox.MarkDoneStatement(evt.Seq))
				}
				if err == nil && i%5 == 4 {
					var got []*Message
					if got, err = db.Message.GetByWAID(ctx, key, waID); err == nil && len(got) != 1 {
						err = fmt.Errorf("GetByWAID(%s) right after InsertHeld found %d rows", waID, len(got))
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := db.FlushHeld(ctx); err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		for i, seq := range seqs[w] {
			if mapped, pending := stored(t, db, key, fmt.Sprintf("3EB0%d-%d", w, i), seq); !mapped || pending {
				t.Fatalf("message %d-%d: mapped %t, inbox row %t", w, i, mapped, pending)
			}
		}
	}
}
