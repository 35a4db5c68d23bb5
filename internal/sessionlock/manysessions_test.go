package sessionlock

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store/sqlstore"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// statementCounter is a dbutil.DatabaseLogger that keeps the statements run (transaction
// boundaries included; not the ends of result sets) while on.
type statementCounter struct {
	dbutil.DatabaseLogger
	lock    sync.Mutex
	on      bool
	queries []string
}

func (c *statementCounter) QueryTiming(_ context.Context, method, query string, _ []any, _ int, _ time.Duration, _ error) {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.on && method != "EndRows" && method != "<Transaction>" {
		c.queries = append(c.queries, method+": "+strings.Join(strings.Fields(query), " "))
	}
}

func (c *statementCounter) count(on bool) {
	c.lock.Lock()
	defer c.lock.Unlock()
	c.on = on
}

func (c *statementCounter) take() []string {
	c.lock.Lock()
	defer c.lock.Unlock()
	out := c.queries
	c.queries = nil
	return out
}

// A message sent to several devices stores their advanced sessions together; on PostgreSQL that is
// one statement (no BEGIN, upserts and COMMIT), and on both databases every record ends as
// written, replacing the one before, with every lease ended.
func TestPutManySessionsInOneStatement(t *testing.T) {
	for _, tc := range []struct {
		dialect       string
		driver, uri   func(t *testing.T) string
		wantStatement bool
	}{
		{"postgres", func(*testing.T) string { return "postgres" }, func(t *testing.T) string { return testdb.NewPostgres(t) }, true},
		{"sqlite", func(*testing.T) string { return "sqlite" }, func(t *testing.T) string {
			return "file:" + filepath.Join(t.TempDir(), "wa.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		}, false},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			counter := &statementCounter{DatabaseLogger: dbutil.NoopLogger}
			dialect := tc.dialect
			if dialect == "sqlite" {
				dialect = "sqlite3"
			}
			device, _ := newDeviceLogged(t, tc.driver(t), tc.uri(t), dialect, counter)
			s := device.Sessions.(*Store)
			inner := s.SessionStore.(*sqlstore.SQLStore)
			ctx := context.Background()
			contact, phone := "4915100000001:0", "4915100000000:0"
			if err := s.PutSession(ctx, contact, []byte("old contact record")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetManySessions(ctx, []string{contact, phone}); err != nil {
				t.Fatal(err)
			}
			counter.count(true)
			err := s.PutManySessions(ctx, map[string][]byte{contact: []byte("contact record 2"), phone: []byte("phone record 1")})
			counter.count(false)
			if err != nil {
				t.Fatal(err)
			}
			statements := counter.take()
			if !tc.wantStatement && len(statements) < 3 {
				t.Errorf("on SQLite storing two records ran %d statements, want whatsmeow's transaction:\n%s", len(statements), strings.Join(statements, "\n"))
			}
			if tc.wantStatement && len(statements) != 1 {
				t.Errorf("storing two records ran %d statements, want 1:\n%s", len(statements), strings.Join(statements, "\n"))
			}
			for addr, want := range map[string]string{contact: "contact record 2", phone: "phone record 1"} {
				got, err := inner.GetSession(ctx, addr)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Errorf("record of %s reads %q, want %q", addr, got, want)
				}
			}
			// Both leases ended with the store: another goroutine loads at once.
			for _, addr := range []string{contact, phone} {
				done := make(chan error, 1)
				go func() {
					_, err := s.GetSession(ctx, addr)
					done <- err
				}()
				waitFor(t, done, time.Second)
			}
		})
	}
}
