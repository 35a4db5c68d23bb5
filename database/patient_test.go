package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestQueriesWaitForRestartedPostgres: queries issued while the PostgreSQL server is down (a fast
// stop that cuts the pooled sessions, then a crash-like immediate stop) wait for it to come back and
// then succeed, for the bridge's tables and whatsmeow's alike, instead of failing.
func TestQueriesWaitForRestartedPostgres(t *testing.T) {
	t.Parallel()
	cluster := testdb.NewCluster(t)
	db := openDB(t, testdb.Postgres, cluster.URI())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := func() error {
		var n int
		if err := db.DB.QueryRow(ctx, "SELECT count(*) FROM portals").Scan(&n); err != nil {
			return err
		}
		return db.DB.QueryRow(ctx, "SELECT count(*) FROM whatsmeow_device").Scan(&n)
	}
	must(t, query())
	for _, mode := range []string{"fast", "immediate"} {
		cluster.Stop(mode)
		done := make(chan error, 4)
		for range cap(done) {
			go func() { done <- query() }()
		}
		// While the server is down, no query may have failed (or succeeded).
		select {
		case err := <-done:
			t.Fatalf("after a %s stop a query ended while the server was down: %v", mode, err)
		case <-time.After(2 * time.Second):
		}
		cluster.Start()
		for range cap(done) {
			if err := <-done; err != nil {
				t.Errorf("after a %s stop a query failed instead of waiting: %v", mode, err)
			}
		}
	}
}
