package database_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestInsertWithSettlesAtomically: a message mapped together with its inbox row's mark leaves the
// row handled (a WhatsApp inbox row is deleted); when either part fails (the message is mapped already, the inbox statement is
// refused) neither happens, on both dialects.
func TestInsertWithSettlesAtomically(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		// state reads a row's state; a handled row is deleted.
		const deleted = database.InboxState("deleted")
		state := func(seq int64) database.InboxState {
			t.Helper()
			evt, err := db.WAInbox.Get(ctx, seq)
			must(t, err)
			if evt == nil {
				return deleted
			}
			return evt.State
		}
		mapped := func(waID string) bool {
			t.Helper()
			exists, err := db.Message.Exists(ctx, key, waID)
			must(t, err)
			return exists
		}
		first, second := waInboxEvent(key, "3EB0A"), waInboxEvent(key, "3EB0B")
		must(t, db.WAInbox.Enqueue(ctx, first, nil))
		must(t, db.WAInbox.Enqueue(ctx, second, nil))
		msg := func(waID string, mxid string) *database.Message {
			return &database.Message{Portal: key, WAID: waID, Sender: types.NewJID("4915112345678", types.DefaultUserServer),
				SenderMXID: "@whatsapp_4915112345678:example.org", MXID: id.EventID(mxid), MXRoom: "!dm:example.org",
				Timestamp: time.Now().Truncate(time.Millisecond)}
		}

		must(t, db.Message.InsertWith(ctx, msg("3EB0A", "$a"), db.WAInbox.MarkDoneStatement(first.Seq)))
		if !mapped("3EB0A") || state(first.Seq) != deleted {
			t.Fatalf("after InsertWith: mapped %t, row %q; want mapped and the row deleted", mapped("3EB0A"), state(first.Seq))
		}
		// The mapping exists already (a duplicate MXID): the second row stays pending.
		if err := db.Message.InsertWith(ctx, msg("3EB0B", "$a"), db.WAInbox.MarkDoneStatement(second.Seq)); err == nil {
			t.Fatal("a message with a mapped event ID was stored")
		}
		if mapped("3EB0B") || state(second.Seq) != database.InboxPending {
			t.Fatalf("after a refused insert: mapped %t, row %q; want neither", mapped("3EB0B"), state(second.Seq))
		}
		// The mark is refused: the message is not mapped either.
		refused := database.Statement{Query: `UPDATE whatsapp_inbox SET state='lost' WHERE seq=$1`, Args: []any{second.Seq}}
		if err := db.Message.InsertWith(ctx, msg("3EB0B", "$b"), refused); err == nil {
			t.Fatal("a refused mark did not fail the insert")
		}
		if mapped("3EB0B") || state(second.Seq) != database.InboxPending {
			t.Fatalf("after a refused mark: mapped %t, row %q; want neither", mapped("3EB0B"), state(second.Seq))
		}
		// Inside a caller's transaction it is part of that transaction.
		must(t, db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
			return db.Message.InsertWith(ctx, msg("3EB0B", "$b"), db.WAInbox.MarkDoneStatement(second.Seq))
		}))
		if !mapped("3EB0B") || state(second.Seq) != deleted {
			t.Fatalf("after InsertWith in a transaction: mapped %t, row %q", mapped("3EB0B"), state(second.Seq))
		}
	})
}
