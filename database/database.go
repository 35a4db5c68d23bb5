package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store/sqlstore"
	whatsmeowUpgrades "go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	waLog "go.mau.fi/whatsmeow/util/log"

	_ "github.com/lib/pq" // PostgreSQL driver, registered as "postgres"

	"github.com/matrix-whatsapp/matrix-whatsapp/database/upgrades"
)

// Owner is written to the database_owner table on the first upgrade, so that two different programs
// cannot share one database by accident.
const Owner = "matrix-whatsapp"

// whatsmeowVersionTable is where whatsmeow's own schema version is kept, apart from ours.
const whatsmeowVersionTable = "whatsmeow_version"

// Database is the bridge's persistence layer: one SQL handle (PostgreSQL or SQLite) holding the
// bridge's tables and whatsmeow's device store, with one query type per table.
//
// All query types are safe for concurrent use. Methods that run inside DB.DoTxn take part in that
// transaction through the ctx they are given.
type Database struct {
	// DB is the underlying dbutil handle. Use it for transactions (DB.DoTxn) and dialect checks.
	DB *dbutil.Database

	// One query type per table; see the package documentation for what each table holds.
	User     *UserQuery            // users
	Puppet   *PuppetQuery          // puppets
	Portal   *PortalQuery          // portals
	Message  *MessageQuery         // messages
	Reaction *ReactionQuery        // reactions
	Edit     *MessageEditQuery     // message_edits
	Txn      *AppserviceTxnQuery   // appservice_txns
	Inbox    *MatrixInboxQuery     // matrix_inbox
	Outbox   *OutgoingMessageQuery // outbox
	// ChatSettings holds what each user's phone synced about each chat (chat_settings).
	ChatSettings *ChatSettingsQuery

	// Placeholder holds the placeholders table: undecryptable messages waiting to be resent.
	Placeholder *PlaceholderQuery

	// State holds small named values kept across restarts (bridge_state).
	State *BridgeStateQuery

	whatsmeow *sqlstore.Container
}

// Open connects to the database and checks that it answers. It does not change the schema; call
// Upgrade before using the tables.
//
// dbType is "sqlite" (or "sqlite3") or "postgres" (or "postgresql"). For SQLite, uri is a file path
// or a "file:" URI; foreign keys, WAL journaling, a busy timeout and immediate transactions are
// switched on unless the URI sets them itself. For PostgreSQL it is a lib/pq connection string.
// maxOpen and maxIdle size the connection pool (0 means no limit for maxOpen, Go's default for maxIdle).
func Open(ctx context.Context, dbType, uri string, maxOpen, maxIdle int, log zerolog.Logger) (*Database, error) {
	var driver, dialect, what string
	switch strings.ToLower(dbType) {
	case "sqlite", "sqlite3":
		driver, dialect = sqliteDriverName, dbutil.SQLite.String()
		what = "sqlite database at " + sqlitePathForLog(uri)
		uri = sqliteURI(uri)
	case "postgres", "postgresql":
		driver, dialect = "postgres", dbutil.Postgres.String()
		what = "postgres database"
	default:
		return nil, fmt.Errorf("unsupported database type %q (expected \"sqlite\" or \"postgres\")", dbType)
	}
	rawDB, err := sql.Open(driver, uri)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", what, err)
	}
	if maxOpen > 0 {
		rawDB.SetMaxOpenConns(maxOpen)
	}
	if maxIdle != 0 {
		rawDB.SetMaxIdleConns(maxIdle)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err = rawDB.PingContext(pingCtx); err != nil {
		_ = rawDB.Close()
		return nil, fmt.Errorf("failed to open %s: %w", what, err)
	}
	if dialect == dbutil.SQLite.String() {
		if err = restrictSQLiteFiles(uri); err != nil {
			_ = rawDB.Close()
			return nil, err
		}
	}
	wrapped, err := dbutil.NewWithDB(rawDB, dialect)
	if err != nil {
		_ = rawDB.Close()
		return nil, fmt.Errorf("failed to open %s: %w", what, err)
	}
	wrapped.Owner = Owner
	wrapped.UpgradeTable = upgrades.Table
	wrapped.Log = dbutil.ZeroLogger(log.With().Str("db_section", "bridge").Logger())

	waDB := wrapped.Child(whatsmeowVersionTable, whatsmeowUpgrades.Table,
		dbutil.ZeroLogger(log.With().Str("db_section", "whatsmeow").Logger()))
	waContainer := sqlstore.NewWithWrappedDB(waDB, waLog.Zerolog(log.With().Str("component", "whatsmeow_store").Logger()))
	return newDatabase(wrapped, waContainer), nil
}

func newDatabase(db *dbutil.Database, wa *sqlstore.Container) *Database {
	return &Database{
		DB:        db,
		User:      &UserQuery{qh: dbutil.MakeQueryHelperSimple(db, newUser)},
		State:     &BridgeStateQuery{db: db},
		Puppet:    &PuppetQuery{qh: dbutil.MakeQueryHelperSimple(db, newPuppet)},
		Portal:    &PortalQuery{qh: dbutil.MakeQueryHelperSimple(db, newPortal)},
		Message:   &MessageQuery{qh: dbutil.MakeQueryHelperSimple(db, newMessage)},
		Reaction:  &ReactionQuery{qh: dbutil.MakeQueryHelperSimple(db, newReaction)},
		Edit:      &MessageEditQuery{qh: dbutil.MakeQueryHelperSimple(db, newMessageEdit)},
		Txn:       &AppserviceTxnQuery{db: db},
		Inbox:     &MatrixInboxQuery{qh: dbutil.MakeQueryHelperSimple(db, newInboxEvent)},
		Outbox:    &OutgoingMessageQuery{qh: dbutil.MakeQueryHelperSimple(db, newOutgoingMessage)},
		whatsmeow: wa,

		ChatSettings: &ChatSettingsQuery{qh: dbutil.MakeQueryHelperSimple(db, newChatSettings)},
		Placeholder:  &PlaceholderQuery{qh: dbutil.MakeQueryHelperSimple(db, newPlaceholder)},
	}
}

// Upgrade brings the bridge's schema and then whatsmeow's schema up to date. Each keeps its own
// version table ("version" and "whatsmeow_version"), so running it again is a no-op. It fails if the
// database was created by a newer version of the bridge or belongs to another program.
func (db *Database) Upgrade(ctx context.Context) error {
	if err := db.DB.Upgrade(ctx); err != nil {
		return fmt.Errorf("failed to upgrade bridge database schema: %w", err)
	}
	if err := db.whatsmeow.Upgrade(ctx); err != nil {
		return fmt.Errorf("failed to upgrade whatsmeow database schema: %w", err)
	}
	return nil
}

// WhatsmeowContainer returns whatsmeow's device store, backed by the same connection pool. It is
// usable after Upgrade has succeeded. Do not call its Close: that would close the shared pool; close
// the Database instead.
func (db *Database) WhatsmeowContainer() *sqlstore.Container {
	return db.whatsmeow
}

// Close closes the connection pool. Nothing may use the Database or the whatsmeow container afterwards.
func (db *Database) Close() error {
	return db.DB.Close()
}

// LatestVersion is the schema version Upgrade brings the bridge's tables to.
func LatestVersion() int {
	return len(upgrades.Table)
}

// unixMilli converts a time to Unix milliseconds for storage, keeping the zero time as 0.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromUnixMilli is the inverse of unixMilli.
func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// errString stores an error as text; a nil error becomes the empty string.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
