package database_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// BenchmarkInboxEnqueue measures durably accepting one appservice transaction of one event, the work
// done before the bridge answers the homeserver.
func BenchmarkInboxEnqueue(b *testing.B) {
	for _, d := range testdb.All {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			db, err := database.Open(ctx, string(d), testdb.New(b, d), 8, 2, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err = db.Upgrade(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				evtID := id.EventID(fmt.Sprintf("$bench%d", i))
				if _, err = db.Inbox.Enqueue(ctx, fmt.Sprintf("txn%d", i), []*database.InboxEvent{inboxEvent(evtID, "!room:example.org")}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
