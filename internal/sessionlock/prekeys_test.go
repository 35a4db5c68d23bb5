package sessionlock

import (
	"context"
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestPreKeysMadeInFewStatements: a device's first 812 one-time prekeys (whatsmeow's first upload)
// are made with a handful of statements on PostgreSQL instead of one INSERT each, stored as
// whatsmeow's store stores them (its own GetPreKey reads each back, not uploaded yet), and later
// batches continue the IDs after keys made earlier and come back first while not uploaded.
func TestPreKeysMadeInFewStatements(t *testing.T) {
	for _, dialect := range []testdb.Dialect{testdb.Postgres, testdb.SQLite} {
		t.Run(string(dialect), func(t *testing.T) {
			device, inner, counter := newDeviceFor(t, dialect)
			ctx := context.Background()
			before := counter.count()
			made, err := device.PreKeys.GetOrGenPreKeys(ctx, 812)
			if err != nil {
				t.Fatal(err)
			}
			if dialect == testdb.Postgres {
				if statements := counter.since(before); len(statements) > 3 {
					t.Errorf("making 812 prekeys ran %d statements, want at most 3:\n%s", len(statements), strings.Join(statements[:min(5, len(statements))], "\n"))
				}
			}
			if len(made) != 812 || made[0].KeyID != 1 || made[811].KeyID != 812 {
				t.Fatalf("made %d keys, IDs %d to %d; want 812, 1 to 812", len(made), made[0].KeyID, made[len(made)-1].KeyID)
			}
			for _, i := range []int{0, 400, 811} {
				stored, err := inner.GetPreKey(ctx, made[i].KeyID)
				if err != nil || stored == nil || *stored.Priv != *made[i].Priv || *stored.Pub != *made[i].Pub {
					t.Fatalf("key %d reads back as %+v, %v", made[i].KeyID, stored, err)
				}
			}
			if n, err := inner.UploadedPreKeyCount(ctx); err != nil || n != 0 {
				t.Fatalf("uploaded count %d, %v; want 0 before the upload", n, err)
			}
			if err = device.PreKeys.MarkPreKeysAsUploaded(ctx, 800); err != nil {
				t.Fatal(err)
			}
			// 12 made and not uploaded come first, then 38 new ones after the highest.
			next, err := device.PreKeys.GetOrGenPreKeys(ctx, 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(next) != 50 || next[0].KeyID != 801 || *next[0].Priv != *made[800].Priv || next[12].KeyID != 813 || next[49].KeyID != 850 {
				t.Fatalf("next batch: %d keys, IDs %d, %d, %d; want 50: 801 (made before), 813, 850", len(next), next[0].KeyID, next[12].KeyID, next[len(next)-1].KeyID)
			}
			if one, err := device.PreKeys.GenOnePreKey(ctx); err != nil || one.KeyID != 851 {
				t.Fatalf("one more key: %+v, %v; want ID 851", one, err)
			}
		})
	}
}
