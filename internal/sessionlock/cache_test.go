package sessionlock

import (
	"context"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestRecordCacheKeepsOnlyUncontendedCommittedWrites: two overlapping writes of one address keep
// nothing, whichever ends last; a failed write forgets; one never sent leaves the cache as it was;
// a bulk write during a write keeps nothing; the cache holds at most max records, least recently
// used out first; what it returns is a copy.
func TestRecordCacheKeepsOnlyUncontendedCommittedWrites(t *testing.T) {
	c := newRecordCache(2)
	p := c.begin("a:0", []byte("1"), false, false)
	c.end("a:0", p, writeCommitted)
	if data, ok := c.get("a:0"); !ok || string(data) != "1" {
		t.Fatalf("a committed write is not kept: %q %v", data, ok)
	}
	data, _ := c.get("a:0")
	data[0] = 'x'
	if again, _ := c.get("a:0"); string(again) != "1" {
		t.Error("changing a returned record changed the cache")
	}

	p1 := c.begin("a:0", []byte("2"), false, false)
	p2 := c.begin("a:0", []byte("3"), false, false)
	c.end("a:0", p2, writeCommitted)
	c.end("a:0", p1, writeCommitted)
	if _, ok := c.get("a:0"); ok {
		t.Error("of two overlapping writes one was kept")
	}
	if len(c.writing) != 0 {
		t.Errorf("writes in flight after all ended: %v", c.writing)
	}

	p = c.begin("a:0", []byte("4"), false, true)
	c.end("a:0", p, writeCommitted)
	p = c.begin("a:0", []byte("5"), false, true)
	if data, ok := c.get("a:0"); !ok || string(data) != "4" {
		t.Errorf("during a decryption's write the committed record is %q %v, want 4", data, ok)
	}
	c.end("a:0", p, writeNotSent)
	if data, ok := c.get("a:0"); !ok || string(data) != "4" {
		t.Errorf("a write never sent changed the cache: %q %v", data, ok)
	}
	p = c.begin("a:0", []byte("6"), false, true)
	c.end("a:0", p, writeFailed)
	if _, ok := c.get("a:0"); ok {
		t.Error("a failed write left the record")
	}

	p = c.begin("a:0", []byte("7"), false, false)
	c.bulkBegin("b")
	c.bulkEnd("b")
	c.end("a:0", p, writeCommitted)
	if _, ok := c.get("a:0"); ok {
		t.Error("a write during a bulk write was kept")
	}

	for i := range 3 {
		address := fmt.Sprintf("%d:0", i)
		c.end(address, c.begin(address, []byte{byte(i)}, false, false), writeCommitted)
	}
	if _, ok := c.get("0:0"); ok || len(c.entries) != 2 {
		t.Errorf("the cache holds %d records, the oldest kept: %v", len(c.entries), ok)
	}
}

// TestStoreForgetsDeletedRecords: a record stored is loaded without the database; deleting it,
// deleting all of its user's, or storing it inside another transaction makes the next load ask the
// database.
func TestStoreForgetsDeletedRecords(t *testing.T) {
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			device, _, counter := newDeviceFor(t, dialect)
			s := device.Sessions.(*Store)
			ctx := context.Background()
			loads := func(want string) {
				t.Helper()
				before := counter.count()
				data, err := device.Sessions.GetSession(ctx, addr)
				s.release([]string{addr})
				if err != nil || string(data) != want {
					t.Fatalf("loaded %q, %v; want %q", data, err, want)
				}
				if want == "r1" && counter.count() != before {
					t.Errorf("loading a known record took %q", counter.since(before))
				}
			}
			put := func(data string) {
				t.Helper()
				if err := device.Sessions.PutSession(ctx, addr, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			put("r1")
			loads("r1")
			if err := device.Sessions.DeleteSession(ctx, addr); err != nil {
				t.Fatal(err)
			}
			loads("")
			put("r1")
			if err := device.Sessions.DeleteAllSessions(ctx, "4915100000001"); err != nil {
				t.Fatal(err)
			}
			loads("")
			put("r1")
			db := s.db
			if err := db.DoTxn(ctx, nil, func(ctx context.Context) error {
				return device.Sessions.PutSession(ctx, addr, []byte("r2"))
			}); err != nil {
				t.Fatal(err)
			}
			s.lock.Lock()
			_, known := s.records.get(addr)
			s.lock.Unlock()
			if known {
				t.Error("a record stored in another transaction is kept")
			}
			loads("r2")
		})
	}
}

// TestSenderKeysKeptUntilMigrated: on PostgreSQL a sender key stored is loaded without the
// database, and a migration of its sender's phone number to a LID (whatsmeow's own SQL moves the
// sender keys) makes the next load ask the database.
func TestSenderKeysKeptUntilMigrated(t *testing.T) {
	device, _, counter := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	pn := types.NewJID("4915100000001", types.DefaultUserServer)
	lid := types.NewJID("100000000000001", types.HiddenUserServer)
	sender := types.NewADJID(pn.User, 0, 0).SignalAddress().String()
	if err := device.SenderKeys.PutSenderKey(ctx, groupID, sender, []byte("chain")); err != nil {
		t.Fatal(err)
	}
	before := counter.count()
	if data, err := device.SenderKeys.GetSenderKey(ctx, groupID, sender); err != nil || string(data) != "chain" {
		t.Fatalf("loaded %q, %v", data, err)
	}
	if trips := counter.since(before); len(trips) != 0 {
		t.Errorf("loading a stored sender key took %q", trips)
	}
	if err := device.Sessions.MigratePNToLID(ctx, pn, lid); err != nil {
		t.Fatal(err)
	}
	before = counter.count()
	data, err := device.SenderKeys.GetSenderKey(ctx, groupID, sender)
	if err != nil {
		t.Fatal(err)
	}
	if trips := counter.since(before); len(trips) != 1 {
		t.Errorf("after the migration the load took %q, want the database's answer (%q)", trips, data)
	}
}
