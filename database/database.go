package database

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store/sqlstore"
	whatsmeowUpgrades "go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/lib/pq"

	"github.com/matrix-whatsapp/matrix-whatsapp/database/upgrades"
	// The whatsmeow container handed out here signs with libsignal (Container.NewDevice) from
	// whichever goroutine calls it; the import sets libsignal's logger first (see its doc).
	_ "github.com/matrix-whatsapp/matrix-whatsapp/internal/signallog"
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
	Login    *UserLoginQuery       // user_logins: the WhatsApp accounts of each user
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

	// WAInbox holds the whatsapp_inbox table: WhatsApp events acknowledged and not bridged yet.
	WAInbox *WhatsAppInboxQuery

	// State holds small named values kept across restarts (bridge_state).
	State *BridgeStateQuery
	// Undecryptable holds encrypted Matrix events waiting for their room keys (matrix_undecryptable).
	Undecryptable *UndecryptableQuery

	// Import holds where imported chat exports went and what they posted (import_rooms,
	// imported_messages).
	Import *ImportQuery

	// HistoryChunk keeps history sync chunks from their arrival until they are bridged
	// (history_chunks).
	HistoryChunk *HistoryChunkQuery

	whatsmeow *sqlstore.Container
	// held holds message map rows for a later statement (held.go).
	held *heldWrites
	// textParams is the handle for TextParamsDB when it is not DB.
	textParams *dbutil.Database
}

// Open connects to the database and checks that it answers. It does not change the schema; call
// Upgrade before using the tables.
//
// dbType is "sqlite" (or "sqlite3") or "postgres" (or "postgresql"). For SQLite, uri is a file path
// or a "file:" URI; foreign keys, WAL journaling, a busy timeout and immediate transactions are
// switched on unless the URI sets them itself. For PostgreSQL it is a lib/pq connection string.
// maxOpen and maxIdle size the connection pool (0 means no limit for maxOpen, Go's default for maxIdle).
// Once PostgreSQL has been reached, a query waits up to PostgresReconnectWait for a server that went
// away to come back instead of failing at once.
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
	var rawDB, textRawDB *sql.DB
	// fail closes what was opened so far and returns err.
	fail := func(err error) (*Database, error) {
		for _, pool := range []*sql.DB{rawDB, textRawDB} {
			if pool != nil {
				_ = pool.Close()
			}
		}
		return nil, err
	}
	var err error
	if driver == "postgres" {
		binaryURI, added := withBinaryParameters(uri)
		if rawDB, err = openPostgres(binaryURI); err != nil {
			return fail(fmt.Errorf("failed to open %s: %s", what, withoutPassword(err.Error(), uri)))
		}
		if added {
			// Closed with the Database; it connects only when used (mautrix's stores).
			if textRawDB, err = openPostgres(uri); err != nil {
				return fail(fmt.Errorf("failed to open %s: %s", what, withoutPassword(err.Error(), uri)))
			}
			textRawDB.SetMaxOpenConns(max(maxOpen/4, 2))
			textRawDB.SetMaxIdleConns(max(maxOpen/4, 2))
		}
	} else if rawDB, err = sql.Open(driver, uri); err != nil {
		return fail(fmt.Errorf("failed to open %s: %w", what, err))
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
		return fail(fmt.Errorf("failed to open %s: %w", what, err))
	}
	if dialect == dbutil.SQLite.String() {
		if err = restrictSQLiteFiles(uri); err != nil {
			return fail(err)
		}
	}
	wrapped, err := dbutil.NewWithDB(rawDB, dialect)
	if err != nil {
		return fail(fmt.Errorf("failed to open %s: %w", what, err))
	}
	wrapped.Owner = Owner
	wrapped.UpgradeTable = upgrades.Table
	wrapped.Log = dbutil.ZeroLogger(log.With().Str("db_section", "bridge").Logger())

	waDB := wrapped.Child(whatsmeowVersionTable, whatsmeowUpgrades.Table,
		dbutil.ZeroLogger(log.With().Str("db_section", "whatsmeow").Logger()))
	waContainer := sqlstore.NewWithWrappedDB(waDB, waLog.Zerolog(log.With().Str("component", "whatsmeow_store").Logger()))
	db := newDatabase(wrapped, waContainer)
	db.held.log = log.With().Str("component", "held_writes").Logger()
	if textRawDB != nil {
		if db.textParams, err = dbutil.NewWithDB(textRawDB, dialect); err != nil {
			return fail(fmt.Errorf("failed to open %s: %w", what, err))
		}
		db.textParams.Owner = Owner
		db.textParams.Log = wrapped.Log
	}
	return db, nil
}

// openPostgres opens a lib/pq pool whose queries wait for a server that went away (patientConnector)
// and whose connections keep the statements they run as prepared statements (stmtCacheConn).
// passwordParam finds the password of a key=value connection string (lib/pq's form: password=x or
// password='x y', quotes escaped with a backslash).
var passwordParam = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// withoutPassword returns msg with the password of the PostgreSQL connection string uri replaced
// by "xxxxx" wherever msg quotes it: lib/pq's errors for a connection string it cannot parse quote
// the string whole, and errors are logged. uri may be a URL (postgres://user:password@host/db, also
// when it does not parse) or key=value pairs (password=...).
func withoutPassword(msg, uri string) string {
	var passwords []string
	if scheme := strings.Index(uri, "://"); scheme >= 0 {
		rest := uri[scheme+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				passwords = append(passwords, rest[colon+1:at])
			}
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(uri, -1) {
		passwords = append(passwords, m[1], strings.Trim(m[1], "'"), strings.SplitN(m[1], "&", 2)[0])
	}
	for _, pw := range passwords {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

func openPostgres(uri string) (*sql.DB, error) {
	connector, err := pq.NewConnector(uri)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(&patientConnector{inner: &cachingConnector{inner: connector}, wait: PostgresReconnectWait}), nil
}

// withBinaryParameters returns the lib/pq connection string uri (URL or key=value form) with
// binary_parameters=yes added, and whether it added it; a uri that sets binary_parameters itself is
// returned as it is. With it lib/pq sends a statement with parameters in one round trip (Parse, Bind
// and Execute together) instead of two, and []byte parameters in binary form.
func withBinaryParameters(uri string) (string, bool) {
	if strings.HasPrefix(uri, "postgres://") || strings.HasPrefix(uri, "postgresql://") {
		u, err := url.Parse(uri)
		if err != nil {
			return uri, false // lib/pq reports the error
		}
		q := u.Query()
		if q.Has("binary_parameters") {
			return uri, false
		}
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
		return u.String(), true
	}
	if strings.Contains(uri, "binary_parameters") {
		return uri, false
	}
	return strings.TrimSpace(uri + " binary_parameters=yes"), true
}

// TextParamsDB is the handle for code whose []byte parameters must reach PostgreSQL as text:
// mautrix-go's crypto and state stores write jsonb columns from []byte, which PostgreSQL refuses in
// the binary form that DB's binary_parameters (see withBinaryParameters) sends. It is a second,
// smaller pool on the same database; for SQLite, or when the URI sets binary_parameters itself, it
// is DB. Transactions of DB do not extend to it.
func (db *Database) TextParamsDB() *dbutil.Database {
	if db.textParams != nil {
		return db.textParams
	}
	return db.DB
}

func newDatabase(db *dbutil.Database, wa *sqlstore.Container) *Database {
	held := newHeldWrites(db)
	return &Database{
		DB:    db,
		held:  held,
		User:  &UserQuery{qh: dbutil.MakeQueryHelperSimple(db, newUser)},
		Login: &UserLoginQuery{qh: dbutil.MakeQueryHelperSimple(db, newUserLogin)},
		State: &BridgeStateQuery{db: db},

		Undecryptable: &UndecryptableQuery{db: db, held: held},
		Import:        &ImportQuery{db: db},
		HistoryChunk:  &HistoryChunkQuery{db: db},
		Puppet:        &PuppetQuery{qh: dbutil.MakeQueryHelperSimple(db, newPuppet)},
		Portal:        &PortalQuery{qh: dbutil.MakeQueryHelperSimple(db, newPortal), held: held},
		Message:       &MessageQuery{qh: dbutil.MakeQueryHelperSimple(db, newMessage), held: held},
		Reaction:      &ReactionQuery{qh: dbutil.MakeQueryHelperSimple(db, newReaction)},
		Edit:          &MessageEditQuery{qh: dbutil.MakeQueryHelperSimple(db, newMessageEdit)},
		Txn:           &AppserviceTxnQuery{db: db},
		Inbox:         &MatrixInboxQuery{qh: dbutil.MakeQueryHelperSimple(db, newInboxEvent), held: held},
		Outbox:        &OutgoingMessageQuery{qh: dbutil.MakeQueryHelperSimple(db, newOutgoingMessage)},
		whatsmeow:     wa,

		ChatSettings: &ChatSettingsQuery{qh: dbutil.MakeQueryHelperSimple(db, newChatSettings)},
		Placeholder:  &PlaceholderQuery{qh: dbutil.MakeQueryHelperSimple(db, newPlaceholder), held: held},
		WAInbox:      &WhatsAppInboxQuery{qh: dbutil.MakeQueryHelperSimple(db, newWhatsAppInboxEvent), held: held},
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

// Close writes the message map rows held for a later statement (waiting at most 10 s) and closes
// the connection pool. Nothing may use the Database or the whatsmeow container afterwards.
func (db *Database) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := db.held.close(ctx); err != nil {
		db.held.log.Warn().Err(err).Msg("Failed to write held message map rows before closing the database; their events are handled again at the next start")
	}
	cancel()
	if db.textParams != nil {
		_ = db.textParams.Close()
	}
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
