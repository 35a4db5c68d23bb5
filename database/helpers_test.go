package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// openDB opens uri with the given test dialect, upgrades it and closes it when the test ends.
func openDB(t *testing.T, d testdb.Dialect, uri string) *database.Database {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, string(d), uri, 8, 2, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatalf("Open(%s) failed: %v", d, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err = db.Upgrade(ctx); err != nil {
		t.Fatalf("Upgrade failed: %v", err)
	}
	return db
}

// eachDialect runs fn as a parallel subtest on every dialect, each with its own fresh database.
func eachDialect(t *testing.T, fn func(t *testing.T, db *database.Database)) {
	t.Helper()
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, openDB(t, d, testdb.New(t, d)))
		})
	}
}

// must fails the test if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ms truncates a time to the millisecond precision the database keeps.
func ms(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli())
}

// sameTime reports whether two times are equal at millisecond precision.
func sameTime(a, b time.Time) bool {
	return a.UnixMilli() == b.UnixMilli() && a.IsZero() == b.IsZero()
}
