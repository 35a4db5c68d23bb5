package database

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	// The pure-Go SQLite driver. This import is the only place it is registered in the bridge; it
	// registers itself under the name "sqlite", and Open tells dbutil to treat it as "sqlite3".
	_ "modernc.org/sqlite"
)

// sqliteDriverName is the database/sql driver name modernc.org/sqlite registers.
const sqliteDriverName = "sqlite"

// sqliteBusyTimeoutMS is how long a connection waits for another writer before failing.
const sqliteBusyTimeoutMS = "10000"

// sqliteURI adds the connection settings the bridge relies on to a user-supplied SQLite path or
// "file:" URI, without overriding any the user set explicitly:
//   - foreign keys on (whatsmeow refuses to upgrade without them, and portals cascade to messages),
//   - WAL journaling so readers do not block the writer,
//   - a busy timeout so concurrent writers wait instead of failing with SQLITE_BUSY,
//   - immediate transactions, so a transaction never has to upgrade a read lock to a write lock
//     (which SQLite cannot wait for and reports as busy at once).
func sqliteURI(uri string) string {
	base, rawQuery, _ := strings.Cut(uri, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Leave a query we cannot parse to the driver, which reports it.
		return uri
	}
	var add []string
	if !hasPragma(query, "foreign_keys", "_foreign_keys", "_fk") {
		add = append(add, "_pragma=foreign_keys(1)")
	}
	if !hasPragma(query, "journal_mode", "_journal_mode", "_journal") {
		add = append(add, "_pragma=journal_mode(WAL)")
	}
	if !hasPragma(query, "busy_timeout", "_busy_timeout", "_timeout") {
		add = append(add, "_pragma=busy_timeout("+sqliteBusyTimeoutMS+")")
	}
	if !query.Has("_txlock") {
		add = append(add, "_txlock=immediate")
	}
	if len(add) == 0 {
		return uri
	}
	if rawQuery != "" {
		return base + "?" + rawQuery + "&" + strings.Join(add, "&")
	}
	return base + "?" + strings.Join(add, "&")
}

// hasPragma reports whether the query sets the given pragma, either as a _pragma value or through one
// of the driver's shorthand keys.
func hasPragma(query url.Values, pragma string, shorthands ...string) bool {
	for _, key := range shorthands {
		if query.Has(key) {
			return true
		}
	}
	for _, value := range query["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(value)), pragma) {
			return true
		}
	}
	return false
}

// sqlitePathForLog returns the file part of a SQLite path or URI, for error messages.
func sqlitePathForLog(uri string) string {
	base, _, _ := strings.Cut(uri, "?")
	return base
}

// restrictSQLiteFiles makes the database file and its journal files readable by the owner only
// (0600): they hold the WhatsApp session keys and message history. A name that is not a plain file
// (":memory:", a URI the driver resolves differently) is left alone.
func restrictSQLiteFiles(uri string) error {
	path := strings.TrimPrefix(sqlitePathForLog(uri), "file:")
	if path == "" || strings.HasPrefix(path, ":memory:") {
		return nil
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(name, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("failed to make %s private: %w", name, err)
		}
	}
	return nil
}
