package database_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

func schemaVersion(t *testing.T, db *database.Database, table string) int {
	t.Helper()
	var version int
	must(t, db.DB.QueryRow(context.Background(), "SELECT version FROM "+table).Scan(&version))
	return version
}

func TestUpgradeFromEmptyAndRerun(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			uri := testdb.New(t, d)
			db := openDB(t, d, uri)

			if got := schemaVersion(t, db, "version"); got != database.LatestVersion() || got < 1 {
				t.Fatalf("bridge schema version = %d, want %d", got, database.LatestVersion())
			}
			waVersion := schemaVersion(t, db, "whatsmeow_version")
			if waVersion < 1 {
				t.Fatalf("whatsmeow schema version = %d, want >= 1", waVersion)
			}
			for _, table := range []string{
				"users", "puppets", "portals", "messages", "reactions", "appservice_txns", "matrix_inbox", "outbox",
				"database_owner", "whatsmeow_device", "whatsmeow_sessions", "whatsmeow_identity_keys",
			} {
				exists, err := db.DB.TableExists(ctx, table)
				must(t, err)
				if !exists {
					t.Errorf("table %s missing after upgrade", table)
				}
			}

			// Running the upgrade again, on the same handle and after reopening, changes nothing.
			must(t, db.Upgrade(ctx))
			must(t, db.Close())
			db2 := openDB(t, d, uri)
			if got := schemaVersion(t, db2, "version"); got != database.LatestVersion() {
				t.Fatalf("bridge schema version after re-run = %d, want %d", got, database.LatestVersion())
			}
			if got := schemaVersion(t, db2, "whatsmeow_version"); got != waVersion {
				t.Fatalf("whatsmeow schema version after re-run = %d, want %d", got, waVersion)
			}
			var rows int
			must(t, db2.DB.QueryRow(ctx, "SELECT COUNT(*) FROM version").Scan(&rows))
			if rows != 1 {
				t.Fatalf("version table has %d rows, want 1", rows)
			}
		})
	}
}

func TestWhatsmeowContainerUsesSameDatabase(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		container := db.WhatsmeowContainer()
		devices, err := container.GetAllDevices(ctx)
		must(t, err)
		if len(devices) != 0 {
			t.Fatalf("fresh database has %d whatsmeow devices", len(devices))
		}
		// What whatsmeow writes through the container is visible through the bridge's handle.
		lid, pn := types.NewJID("111", types.HiddenUserServer), types.NewJID("4915112345678", types.DefaultUserServer)
		must(t, container.LIDMap.PutLIDMapping(ctx, lid, pn))
		var rows int
		must(t, db.DB.QueryRow(ctx, "SELECT COUNT(*) FROM whatsmeow_lid_map").Scan(&rows))
		if rows != 1 {
			t.Fatalf("whatsmeow_lid_map has %d rows after PutLIDMapping, want 1", rows)
		}
	})
}

func TestSQLiteSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, uri := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "a.db"),
		"file URI": "file:" + filepath.Join(t.TempDir(), "b.db") + "?cache=private",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := openDB(t, testdb.SQLite, uri)
			var fk int
			var journal string
			var busy int
			must(t, db.DB.QueryRow(ctx, "PRAGMA foreign_keys").Scan(&fk))
			must(t, db.DB.QueryRow(ctx, "PRAGMA journal_mode").Scan(&journal))
			must(t, db.DB.QueryRow(ctx, "PRAGMA busy_timeout").Scan(&busy))
			if fk != 1 || !strings.EqualFold(journal, "wal") || busy <= 0 {
				t.Fatalf("foreign_keys=%d journal_mode=%s busy_timeout=%d, want 1, wal, > 0", fk, journal, busy)
			}
			// The file holds session keys and messages: the owner alone may read it.
			path := strings.TrimPrefix(strings.SplitN(uri, "?", 2)[0], "file:")
			info, err := os.Stat(path)
			must(t, err)
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Fatalf("database file mode %o, want 600", perm)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := zerolog.Nop()
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "bridge.db")
	_, err := database.Open(ctx, "sqlite", missingDir, 1, 1, log)
	if err == nil || !strings.Contains(err.Error(), "failed to open sqlite database at "+missingDir) {
		t.Fatalf("Open of a path in a missing directory returned %v", err)
	}
	_, err = database.Open(ctx, "mysql", "x", 1, 1, log)
	if err == nil || !strings.Contains(err.Error(), `unsupported database type "mysql"`) {
		t.Fatalf("Open with an unknown type returned %v", err)
	}
}

func TestOpenMissingPostgresDatabase(t *testing.T) {
	t.Parallel()
	// A missing database on the local server; under -short (no PostgreSQL needed) a server that is
	// not there at all. Both must fail with the same clear error.
	host, port := "127.0.0.1", "1"
	if !testing.Short() {
		must(t, testdb.EnsurePostgres())
		host, port = testdb.PostgresAddr()
	}
	_, err := database.Open(context.Background(), "postgres", "postgres://postgres@"+host+":"+port+"/mw_does_not_exist?sslmode=disable", 1, 1, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "failed to open postgres database") {
		t.Fatalf("Open of a missing PostgreSQL database returned %v", err)
	}
}

// TestOpenHidesPassword: a connection string lib/pq cannot parse is quoted in its error, which the
// bridge logs; the password in it is not.
func TestOpenHidesPassword(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"postgres://bridge:SECRETPW@dbhost:notaport/db",
		"postgresql://bridge:SECRET@PW@dbhost:notaport/db?sslmode=disable",
		"postgres://dbhost:notaport/db?user=bridge&password=SECRETPW&sslmode=disable",
		"host=dbhost password=SECRETPW sslmode=nonsense x",
		"host=dbhost password='SECRET PW' x",
	} {
		_, err := database.Open(context.Background(), "postgres", uri, 1, 1, zerolog.Nop())
		if err == nil {
			t.Errorf("Open(%q) succeeded", uri)
		} else if msg := err.Error(); strings.Contains(msg, "SECRET") || !strings.Contains(msg, "failed to open postgres database") {
			t.Errorf("Open(%q) failed with %q, which shows the password or does not say what failed", uri, msg)
		}
	}
}
