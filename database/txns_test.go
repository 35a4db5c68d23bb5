package database_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

func TestMarkProcessedDedupAcrossReopen(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			uri := testdb.New(t, d)
			db := openDB(t, d, uri)
			already, err := db.Txn.MarkProcessed(ctx, "txn1")
			must(t, err)
			if already {
				t.Fatal("a new transaction was reported as already processed")
			}
			already, err = db.Txn.MarkProcessed(ctx, "txn1")
			must(t, err)
			if !already {
				t.Fatal("a repeated transaction was reported as new")
			}
			must(t, db.Close())

			db = openDB(t, d, uri)
			already, err = db.Txn.MarkProcessed(ctx, "txn1")
			must(t, err)
			if !already {
				t.Fatal("a transaction processed before reopening was reported as new")
			}
			already, err = db.Txn.MarkProcessed(ctx, "txn2")
			must(t, err)
			if already {
				t.Fatal("a new transaction after reopening was reported as already processed")
			}
			processed, err := db.Txn.IsProcessed(ctx, "txn2")
			must(t, err)
			if !processed {
				t.Fatal("IsProcessed is false for a marked transaction")
			}

			// Pruning keeps what is younger than the age given and removes the rest.
			n, err := db.Txn.Prune(ctx, 24*time.Hour)
			must(t, err)
			if n != 0 {
				t.Fatalf("Prune(1 day) removed %d fresh transactions", n)
			}
			n, err = db.Txn.Prune(ctx, -time.Second)
			must(t, err)
			if n != 2 {
				t.Fatalf("Prune of everything removed %d transactions, want 2", n)
			}
			already, err = db.Txn.MarkProcessed(ctx, "txn1")
			must(t, err)
			if already {
				t.Fatal("a pruned transaction was still reported as processed")
			}
		})
	}
}

func TestMarkProcessedConcurrent(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		const goroutines = 32
		for round := range 3 {
			txnID := fmt.Sprintf("concurrent-%d", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			first, repeats := 0, 0
			errs := make(chan error, goroutines)
			start := make(chan struct{})
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					already, err := db.Txn.MarkProcessed(ctx, txnID)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if already {
						repeats++
					} else {
						first++
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("MarkProcessed failed: %v", err)
			}
			if first != 1 || repeats != goroutines-1 {
				t.Fatalf("round %d: %d callers saw the transaction first and %d as a repeat, want 1 and %d",
					round, first, repeats, goroutines-1)
			}
		}
	})
}
