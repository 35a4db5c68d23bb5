package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestCleanStopRecord: across processes sharing one database, a row stored before a start counts
// as maybe sent by an earlier process only as the last stop left it: after a clean stop, rows that
// were tried are looked for (waited for only where a request was cut off) and rows never tried are
// not; after a crash (no record, since every start clears it) every earlier row is waited for. A row
// once cut off stays cut off, whatever later attempts got back.
func TestCleanStopRecord(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			uri := testdb.New(t, d)
			first := newTestBridge(t, d, uri)
			load := func(br *Bridge) {
				t.Helper()
				if err := br.loadCleanStop(ctx); err != nil {
					t.Fatal(err)
				}
			}
			load(first) // nothing recorded yet: a first start counts as after a crash
			enqueue := func(waID string) int64 {
				row := &database.WhatsAppInboxEvent{User: "@alice:test.local", Portal: database.PortalKey{JID: types.NewJID("4917600000002", types.DefaultUserServer)}, Kind: "message", Version: 1, WAID: types.MessageID(waID), Payload: []byte("{}")}
				if err := first.DB.WAInbox.Enqueue(ctx, row, nil); err != nil {
					t.Fatal(err)
				}
				return row.Seq
			}
			answered, cutOff, untried, handled := enqueue("A1"), enqueue("A2"), enqueue("A3"), enqueue("A4")
			retried, inFlight := enqueue("A5"), enqueue("A6")
			m := first.waMaybeSent
			m.trying(answered, cutOff, handled, retried, inFlight)
			m.answered(false, answered)       // refused a connection: nothing on its way
			m.answered(true, cutOff, retried) // a 5xx, or cut off by the stop
			// A retry that gets a clear answer says nothing about the request the 5xx cut off.
			m.trying(retried)
			m.answered(false, retried)
			m.settled(handled)
			if err := first.DB.WAInbox.MarkDone(ctx, handled); err != nil {
				t.Fatal(err)
			}
			first.saveCleanStop()

			type want struct{ maybe, cutOff bool }
			check := func(name string, br *Bridge, wants map[int64]want) {
				t.Helper()
				for seq, w := range wants {
					row, err := br.DB.WAInbox.Get(ctx, seq)
					if err != nil {
						t.Fatal(err)
					}
					maybe, cut := br.waMaybeSent.fromPreviousProcess(seq, row.ReceivedAt, br.startedAt)
					if maybe != w.maybe || cut != w.cutOff {
						t.Errorf("%s: row %d: maybe sent %v, cut off %v; want %v, %v", name, seq, maybe, cut, w.maybe, w.cutOff)
					}
				}
			}
			second := newTestBridge(t, d, uri)
			load(second)
			afterClean := map[int64]want{answered: {true, false}, cutOff: {true, true}, untried: {false, false}, retried: {true, true}, inFlight: {true, true}}
			check("after a clean stop", second, afterClean)
			// The second process gets a clear answer for a row the first one had cut off, and
			// stops cleanly without touching the others: the record carries over.
			second.waMaybeSent.trying(cutOff)
			second.waMaybeSent.answered(false, cutOff)
			second.saveCleanStop()
			third := newTestBridge(t, d, uri)
			load(third)
			check("after two clean stops", third, afterClean)
			// The third process crashes (no saveCleanStop): its start cleared the record.
			fourth := newTestBridge(t, d, uri)
			load(fourth)
			check("after a crash", fourth, map[int64]want{answered: {true, true}, cutOff: {true, true}, untried: {true, true}})
			// A row stored after the start is this process's own, whatever the record says
			// (received_at has millisecond precision).
			time.Sleep(2 * time.Millisecond)
			late := enqueue("A7")
			check("a row stored after the start", fourth, map[int64]want{late: {false, false}})
			// The fourth process gets a clear answer for a row the crashed one may have had cut
			// off, and stops cleanly: the row stays cut off, the late row was never tried.
			fourth.waMaybeSent.trying(answered)
			fourth.waMaybeSent.answered(false, answered)
			fourth.saveCleanStop()
			fifth := newTestBridge(t, d, uri)
			load(fifth)
			check("after a crash and a clean stop", fifth, map[int64]want{answered: {true, true}, untried: {true, true}, late: {false, false}})
		})
	}
}

// TestCleanStopRecordClearing: the start that finds a clean stop record clears it, also one it
// cannot read, and fails when the record cannot be cleared, so that no record outlives a crash.
func TestCleanStopRecordClearing(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			uri := testdb.New(t, d)
			br := newTestBridge(t, d, uri)
			if err := br.DB.State.Set(ctx, cleanStopKey, "{not json"); err != nil {
				t.Fatal(err)
			}
			if err := br.loadCleanStop(ctx); err != nil {
				t.Fatal(err)
			}
			if !br.waMaybeSent.crashed {
				t.Error("an unreadable record was trusted")
			}
			if raw, err := br.DB.State.Get(ctx, cleanStopKey); err != nil || raw != "" {
				t.Errorf("unreadable record left behind: %q, %v", raw, err)
			}

			closed := newTestBridge(t, d, uri)
			if err := closed.DB.Close(); err != nil {
				t.Fatal(err)
			}
			if err := closed.loadCleanStop(ctx); err == nil || !strings.Contains(err.Error(), "clean stop record") {
				t.Errorf("loadCleanStop on a failing database returned %v, want an error about the clean stop record", err)
			}
		})
	}
}
