package database_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Open a SQLite database, bring the schema up to date and remember an appservice transaction.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "mw-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite", filepath.Join(dir, "bridge.db"), 4, 2, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err = db.Upgrade(ctx); err != nil {
		panic(err)
	}
	first, _ := db.Txn.MarkProcessed(ctx, "txn-1")
	again, _ := db.Txn.MarkProcessed(ctx, "txn-1")
	fmt.Println("already processed:", first, again)
	// Output: already processed: false true
}
