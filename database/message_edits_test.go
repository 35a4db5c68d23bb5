package database_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestMessageQuoteMediaAndEdits(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		msg := &database.Message{Portal: key, WAID: "3EB0Q", Sender: types.NewJID("4915112345678", types.DefaultUserServer),
			MXID: "$q", MXRoom: "!dm:example.org", Timestamp: ms(time.Now()),
			Quote: []byte{0x0a, 0x02, 'h', 'i', 0x00}, Media: `{"msgtype":"m.image","url":"mxc://example.org/x"}`}
		must(t, db.Message.Insert(ctx, msg))
		got, err := db.Message.GetByMXID(ctx, "$q")
		must(t, err)
		if !bytes.Equal(got.Quote, msg.Quote) || got.Media != msg.Media {
			t.Fatalf("stored quote %x, media %q; want %x, %q", got.Quote, got.Media, msg.Quote, msg.Media)
		}
		plain := &database.Message{Portal: key, WAID: "3EB0P", Sender: msg.Sender, MXID: "$p", MXRoom: "!dm:example.org"}
		must(t, db.Message.Insert(ctx, plain))
		if got, err = db.Message.GetByMXID(ctx, "$p"); err != nil || got.Quote != nil || got.Media != "" {
			t.Fatalf("message without quote: %+v, %v", got, err)
		}

		for _, ev := range []id.EventID{"$e1", "$e2", "$e1"} {
			must(t, db.Edit.Insert(ctx, &database.MessageEdit{Portal: key, WAID: "3EB0Q", MXID: ev, MXRoom: "!dm:example.org", SenderMXID: "@g:example.org"}))
		}
		edits, err := db.Edit.GetByWAID(ctx, key, "3EB0Q")
		must(t, err)
		if len(edits) != 2 {
			t.Fatalf("%d edits recorded, want 2", len(edits))
		}
		must(t, db.Edit.Delete(ctx, key, "3EB0Q"))
		if edits, err = db.Edit.GetByWAID(ctx, key, "3EB0Q"); err != nil || len(edits) != 0 {
			t.Fatalf("edits after delete: %v, %v", edits, err)
		}
	})
}
