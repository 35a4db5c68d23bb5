package database

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

const (
	getImportRoomQuery         = `SELECT mxid FROM import_rooms WHERE portal_jid=$1 AND portal_receiver=$2`
	setImportRoomQuery         = `INSERT INTO import_rooms (portal_jid, portal_receiver, mxid) VALUES ($1, $2, $3)`
	importedMessageExistsQuery = `
		SELECT EXISTS(SELECT 1 FROM imported_messages WHERE portal_jid=$1 AND portal_receiver=$2 AND import_key=$3)
	`
	anyImportedQuery    = `SELECT EXISTS(SELECT 1 FROM imported_messages WHERE portal_jid=$1 AND portal_receiver=$2)`
	insertImportedQuery = `
		INSERT INTO imported_messages (portal_jid, portal_receiver, import_key, mx_room, mxid, timestamp)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (portal_jid, portal_receiver, import_key) DO NOTHING
	`
	countImportedQuery = `SELECT COUNT(*) FROM imported_messages WHERE portal_jid=$1 AND portal_receiver=$2`
)

// ImportQuery reads and writes the import_rooms and imported_messages tables: where a chat's
// imported export history went, and which of its messages were posted.
type ImportQuery struct {
	db *dbutil.Database
}

// Room returns the linked history room of a portal, or "" when it has none.
func (q *ImportQuery) Room(ctx context.Context, portal PortalKey) (id.RoomID, error) {
	jid, receiver := portal.sqlArgs()
	var room string
	err := q.db.QueryRow(ctx, getImportRoomQuery, jid, receiver).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id.RoomID(room), err
}

// SetRoom records a portal's linked history room. The portal must be stored.
func (q *ImportQuery) SetRoom(ctx context.Context, portal PortalKey, room id.RoomID) error {
	jid, receiver := portal.sqlArgs()
	_, err := q.db.Exec(ctx, setImportRoomQuery, jid, receiver, room.String())
	return err
}

// Exists reports whether the message with that import key was posted for the portal.
func (q *ImportQuery) Exists(ctx context.Context, portal PortalKey, key string) (bool, error) {
	jid, receiver := portal.sqlArgs()
	var exists bool
	err := q.db.QueryRow(ctx, importedMessageExistsQuery, jid, receiver, key).Scan(&exists)
	return exists, err
}

// Any reports whether anything was imported for the portal.
func (q *ImportQuery) Any(ctx context.Context, portal PortalKey) (bool, error) {
	jid, receiver := portal.sqlArgs()
	var exists bool
	err := q.db.QueryRow(ctx, anyImportedQuery, jid, receiver).Scan(&exists)
	return exists, err
}

// Count returns how many imported messages the portal has.
func (q *ImportQuery) Count(ctx context.Context, portal PortalKey) (int, error) {
	jid, receiver := portal.sqlArgs()
	var n int
	err := q.db.QueryRow(ctx, countImportedQuery, jid, receiver).Scan(&n)
	return n, err
}

// Insert records a posted message (a repeat of the key is ignored). ts is the message's time
// from the export.
func (q *ImportQuery) Insert(ctx context.Context, portal PortalKey, key string, room id.RoomID, evt id.EventID, ts time.Time) error {
	jid, receiver := portal.sqlArgs()
	_, err := q.db.Exec(ctx, insertImportedQuery, jid, receiver, key, room.String(), evt.String(), unixMilli(ts))
	return err
}
