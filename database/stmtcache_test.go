package database

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lib/pq"
	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// openOneConn opens a fresh PostgreSQL database through Open with a pool of one connection, so
// that every statement of a test runs on the same connection.
func openOneConn(t *testing.T) *Database {
	t.Helper()
	db, err := Open(context.Background(), "postgres", testdb.New(t, testdb.Postgres), 1, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// preparedCount counts the connection's prepared statements with the text query (all of them when
// query is empty).
func preparedCount(t *testing.T, db *Database, query string) int {
	t.Helper()
	var n int
	// Without parameters: lib/pq's simple query, not itself a prepared statement.
	err := db.DB.QueryRow(context.Background(), "SELECT count(*) FROM pg_prepared_statements WHERE "+
		"'"+query+"' = '' OR statement = '"+query+"'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStatementsArePreparedOnce: a statement with parameters run again and again is prepared once
// on its connection and answers correctly each time; one without parameters is not prepared.
func TestStatementsArePreparedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openOneConn(t)
	const query = "SELECT $1::int + 1"
	for i := range 10 {
		var got int
		if err := db.DB.QueryRow(ctx, query, i).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != i+1 {
			t.Fatalf("%s with %d gave %d", query, i, got)
		}
	}
	if n := preparedCount(t, db, query); n != 1 {
		t.Errorf("%d prepared statements for %q, want 1", n, query)
	}
	if _, err := db.DB.Exec(ctx, "CREATE TABLE t (k TEXT PRIMARY KEY, v BYTEA)"); err != nil {
		t.Fatal(err)
	}
	// Exec, binary parameters and results, and a transaction all use the same statements.
	for i := range 3 {
		err := db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
			_, err := db.DB.Exec(ctx, "INSERT INTO t (k, v) VALUES ($1, $2)", fmt.Sprint(i), []byte{0, byte(i), 0xff})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var v []byte
	if err := db.DB.QueryRow(ctx, "SELECT v FROM t WHERE k=$1", "2").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if string(v) != "\x00\x02\xff" {
		t.Errorf("bytea read back as %x", v)
	}
	if n := preparedCount(t, db, "INSERT INTO t (k, v) VALUES ($1, $2)"); n != 1 {
		t.Errorf("%d prepared statements for the insert, want 1", n)
	}
	if n := preparedCount(t, db, "CREATE TABLE t (k TEXT PRIMARY KEY, v BYTEA)"); n != 0 {
		t.Errorf("a statement without parameters was prepared")
	}
}

// TestStatementCacheIsBounded: a connection keeps at most stmtCacheSize prepared statements,
// dropping the least recently used.
func TestStatementCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openOneConn(t)
	query := func(i int) string { return fmt.Sprintf("SELECT $1::int + %d", i) }
	for i := range stmtCacheSize + 20 {
		var got int
		if err := db.DB.QueryRow(ctx, query(i), 1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != 1+i {
			t.Fatalf("%s gave %d", query(i), got)
		}
		if i == stmtCacheSize/2 {
			// Used again: now among the most recent, kept.
			if err := db.DB.QueryRow(ctx, query(0), 1).Scan(&got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := preparedCount(t, db, ""); n != stmtCacheSize {
		t.Errorf("%d prepared statements on the connection, want %d", n, stmtCacheSize)
	}
	if preparedCount(t, db, query(0)) != 1 || preparedCount(t, db, query(1)) != 0 {
		t.Error("the least recently used statement was not the one dropped")
	}
}

// TestLostPreparedStatements: when the server loses the connection's prepared statements (as
// behind a pooler in transaction mode), a statement outside a transaction still succeeds, and one
// inside a transaction fails that transaction once; after that the connection runs statements
// unnamed.
func TestLostPreparedStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openOneConn(t)
	const query = "SELECT $1::text || '!'"
	check := func() error {
		var got string
		if err := db.DB.QueryRow(ctx, query, "hi").Scan(&got); err != nil {
			return err
		}
		if got != "hi!" {
			return fmt.Errorf("got %q", got)
		}
		return nil
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.Exec(ctx, "DEALLOCATE ALL"); err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatalf("outside a transaction after the statements were lost: %v", err)
	}
	if n := preparedCount(t, db, ""); n != 0 {
		t.Errorf("%d prepared statements after the connection stopped using them", n)
	}

	db = openOneConn(t)
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.Exec(ctx, "DEALLOCATE ALL"); err != nil {
		t.Fatal(err)
	}
	err := db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		var got string
		return db.DB.QueryRow(ctx, query, "hi").Scan(&got)
	})
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "26000" {
		t.Fatalf("transaction after the statements were lost: %v, want invalid_sql_statement_name", err)
	}
	err = db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		var got string
		return db.DB.QueryRow(ctx, query, "hi").Scan(&got)
	})
	if err != nil {
		t.Fatalf("second transaction: %v", err)
	}
}
