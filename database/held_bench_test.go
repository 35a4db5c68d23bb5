package database

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// BenchmarkSettleMessage measures the database work of one bridged WhatsApp message on
// PostgreSQL: its inbox insert with its duplicate check (EnqueueLookingUp), then, after the send,
// its message map row with its inbox row's settlement. "separate" writes the second in a
// statement of its own (InsertWith), "held" holds it for the next message's insert
// (InsertHeld). Besides ns/op it reports the process's CPU (cpu-ms/op) and the database backends'
// CPU (db-cpu-ms/op, from /proc: PostgreSQL must run on this machine).
func BenchmarkSettleMessage(b *testing.B) {
	for _, held := range []bool{false, true} {
		name := "separate"
		if held {
			name = "held"
		}
		b.Run(name, func(b *testing.B) { benchSettleMessage(b, held) })
	}
}

func benchSettleMessage(b *testing.B, held bool) {
	ctx := context.Background()
	uri := testdb.NewPostgres(b)
	db, err := Open(ctx, "postgres", uri, 8, 2, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err = db.Upgrade(ctx); err != nil {
		b.Fatal(err)
	}
	key := NewPortalKey(heldTestContact, heldTestUser)
	if err = db.Portal.Insert(ctx, &Portal{Key: key, MXID: "!dm:example.org"}); err != nil {
		b.Fatal(err)
	}
	message := func(i int) {
		waID := fmt.Sprintf("3EB0%016d", i)
		evt := heldTestInboxEvent(key, waID)
		if check, err := db.WAInbox.EnqueueLookingUp(ctx, evt, nil); err != nil || check == nil || check.Bridged {
			b.Fatalf("EnqueueLookingUp = %+v, %v", check, err)
		}
		row := heldTestMessage(key, waID, id.EventID("$"+waID))
		if held {
			err = db.Message.InsertHeld(ctx, row, db.WAInbox.MarkDoneStatement(evt.Seq))
		} else {
			err = db.Message.InsertWith(ctx, row, db.WAInbox.MarkDoneStatement(evt.Seq))
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	message(-1) // the pool's connection exists before its backend is looked up
	backends := testdb.BackendPIDs(b, uri)
	dbBefore, procBefore := testdb.BackendsCPU(backends), testdb.ProcessCPU()
	b.ResetTimer()
	for i := range b.N {
		message(i)
	}
	if err = db.FlushHeld(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	dbCPU, procCPU := testdb.BackendsCPU(backends)-dbBefore, testdb.ProcessCPU()-procBefore
	b.ReportMetric(float64(procCPU.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(dbCPU.Microseconds())/1000/float64(b.N), "db-cpu-ms/op")
}
