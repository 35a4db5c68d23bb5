// Package testdb gives each test its own database: a fresh PostgreSQL database on the local server
// (started if it is not running) or a fresh SQLite file in the test's temporary directory.
//
// Every database is created under a unique name and dropped when the test ends, so tests can run in
// parallel, in several packages at once, without seeing each other's rows.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver
)

// PostgresAddr is where the local PostgreSQL server listens. PGHOST/PGPORT override it.
func PostgresAddr() (host, port string) {
	host, port = os.Getenv("PGHOST"), os.Getenv("PGPORT")
	if host == "" || strings.HasPrefix(host, "/") {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	return host, port
}

func adminURI(dbname string) string {
	host, port := PostgresAddr()
	user := os.Getenv("PGUSER")
	if user == "" {
		user = "postgres"
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, net.JoinHostPort(host, port), dbname)
}

var startOnce sync.Once
var startErr error

// EnsurePostgres makes sure the local PostgreSQL server accepts connections, starting the cluster
// with pg_ctlcluster when it does not.
func EnsurePostgres() error {
	startOnce.Do(func() {
		if pingPostgres() == nil {
			return
		}
		versions, _ := filepath.Glob("/etc/postgresql/*")
		if len(versions) == 0 {
			startErr = fmt.Errorf("PostgreSQL is not running at %s and no cluster is installed under /etc/postgresql", adminURI(""))
			return
		}
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", filepath.Base(versions[0]), "main", "start").CombinedOutput()
		if err != nil {
			startErr = fmt.Errorf("failed to start PostgreSQL: %w: %s", err, out)
			return
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if startErr = pingPostgres(); startErr == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return startErr
}

func pingPostgres() error {
	db, err := sql.Open("postgres", adminURI("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewPostgres creates an empty PostgreSQL database for this test and returns its connection URI. The
// database is dropped when the test ends. Under go test -short (`make unit`, which must pass with no
// PostgreSQL server) the test is skipped; `make test` runs it.
func NewPostgres(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("PostgreSQL test: run by make test, not with -short")
	}
	if err := EnsurePostgres(); err != nil {
		tb.Fatalf("PostgreSQL is required for this test: %v", err)
	}
	name := "mwtest_" + randomSuffix()
	admin, err := sql.Open("postgres", adminURI("postgres"))
	if err != nil {
		tb.Fatalf("failed to open PostgreSQL: %v", err)
	}
	defer admin.Close()
	if _, err = admin.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("failed to create test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("postgres", adminURI("postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return adminURI(name)
}

// NewSQLite returns the path of a fresh SQLite database file in the test's temporary directory.
func NewSQLite(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "bridge.db")
}

// Dialect names a database engine that tests run against.
type Dialect string

// The dialects every database test runs on.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite3"
)

// All lists the dialects every database test must pass on.
var All = []Dialect{Postgres, SQLite}

// New creates a fresh database of the given dialect for this test and returns its URI (a file path
// for SQLite).
func New(tb testing.TB, d Dialect) string {
	tb.Helper()
	if d == Postgres {
		return NewPostgres(tb)
	}
	return NewSQLite(tb)
}
