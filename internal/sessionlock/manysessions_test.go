package sessionlock

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// A message sent to several devices stores their advanced sessions together; on PostgreSQL that is
// one statement (no BEGIN, upserts and COMMIT), and on both databases every record ends as
// written, replacing the one before, with every lease ended.
func TestPutManySessionsInOneStatement(t *testing.T) {
	for _, dialect := range []testdb.Dialect{testdb.Postgres, testdb.SQLite} {
		t.Run(string(dialect), func(t *testing.T) {
			device, inner, counter := newDeviceFor(t, dialect)
			s := device.Sessions.(*Store)
			ctx := context.Background()
			contact, phone := "4915100000001:0", "4915100000000:0"
			if err := s.PutSession(ctx, contact, []byte("old contact record")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetManySessions(ctx, []string{contact, phone}); err != nil {
				t.Fatal(err)
			}
			before := counter.count()
			err := s.PutManySessions(ctx, map[string][]byte{contact: []byte("contact record 2"), phone: []byte("phone record 1")})
			if err != nil {
				t.Fatal(err)
			}
			statements := counter.since(before)
			if dialect == testdb.Postgres && len(statements) != 1 {
				t.Errorf("storing two records ran %d statements, want 1:\n%s", len(statements), strings.Join(statements, "\n"))
			}
			if dialect == testdb.SQLite && len(statements) < 3 {
				t.Errorf("on SQLite storing two records ran %d statements, want whatsmeow's transaction:\n%s", len(statements), strings.Join(statements, "\n"))
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
