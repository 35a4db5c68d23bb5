package database

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	userColumns = `mxid, wa_jid, phone, push_name, management_room, space_room, created_at, updated_at`

	getUserByMXIDQuery      = `SELECT ` + userColumns + ` FROM users WHERE mxid=$1`
	getUserByWAJIDQuery     = `SELECT ` + userColumns + ` FROM users WHERE wa_jid=$1`
	getAllLoggedInUserQuery = `SELECT ` + userColumns + ` FROM users WHERE wa_jid IS NOT NULL ORDER BY mxid`
	insertUserQuery         = `
		INSERT INTO users (` + userColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	`
	upsertUserQuery = insertUserQuery + `
		ON CONFLICT (mxid) DO UPDATE SET
			wa_jid=excluded.wa_jid, phone=excluded.phone, push_name=excluded.push_name,
			management_room=excluded.management_room, space_room=excluded.space_room,
			updated_at=excluded.updated_at
	`
	updateUserQuery = `
		UPDATE users SET wa_jid=$2, phone=$3, push_name=$4, management_room=$5, space_room=$6, updated_at=$7
		WHERE mxid=$1
	`
	clearUserLoginQuery = `UPDATE users SET wa_jid=NULL, updated_at=$2 WHERE mxid=$1`
)

// User is a Matrix user of the bridge and, when logged in, the WhatsApp device it is linked to.
type User struct {
	MXID id.UserID
	// WAJID is the bridge's own device JID (with device part); empty when not logged in.
	WAJID          types.JID
	Phone          string
	PushName       string
	ManagementRoom id.RoomID
	SpaceRoom      id.RoomID
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func newUser() *User { return &User{} }

// Scan reads one users row.
func (u *User) Scan(row dbutil.Scannable) (*User, error) {
	var waJID, mgmtRoom, spaceRoom sql.NullString
	var created, updated int64
	err := row.Scan(&u.MXID, &waJID, &u.Phone, &u.PushName, &mgmtRoom, &spaceRoom, &created, &updated)
	if err != nil {
		return nil, err
	}
	if waJID.Valid {
		if u.WAJID, err = types.ParseJID(waJID.String); err != nil {
			return nil, fmt.Errorf("failed to parse wa_jid of %s: %w", u.MXID, err)
		}
	}
	u.ManagementRoom = id.RoomID(mgmtRoom.String)
	u.SpaceRoom = id.RoomID(spaceRoom.String)
	u.CreatedAt, u.UpdatedAt = fromUnixMilli(created), fromUnixMilli(updated)
	return u, nil
}

func (u *User) sqlVariables() []any {
	return []any{
		string(u.MXID), dbutil.StrPtr(u.WAJID.String()), u.Phone, u.PushName,
		dbutil.StrPtr(u.ManagementRoom), dbutil.StrPtr(u.SpaceRoom),
		unixMilli(u.CreatedAt), unixMilli(u.UpdatedAt),
	}
}

// touch sets UpdatedAt (and CreatedAt when unset) before a write.
func (u *User) touch() {
	u.UpdatedAt = time.Now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = u.UpdatedAt
	}
}

// UserQuery reads and writes the users table.
type UserQuery struct {
	qh *dbutil.QueryHelper[*User]
}

// GetByMXID returns the user with the given Matrix ID, or nil if there is none.
func (uq *UserQuery) GetByMXID(ctx context.Context, mxid id.UserID) (*User, error) {
	return uq.qh.QueryOne(ctx, getUserByMXIDQuery, string(mxid))
}

// GetByWAJID returns the user logged in as the given WhatsApp device JID, or nil if there is none.
func (uq *UserQuery) GetByWAJID(ctx context.Context, jid types.JID) (*User, error) {
	return uq.qh.QueryOne(ctx, getUserByWAJIDQuery, jid.String())
}

// GetAllLoggedIn returns every user that has a WhatsApp device JID, ordered by Matrix ID.
func (uq *UserQuery) GetAllLoggedIn(ctx context.Context) ([]*User, error) {
	return uq.qh.QueryMany(ctx, getAllLoggedInUserQuery)
}

// Insert adds a new user. It sets CreatedAt (if unset) and UpdatedAt.
func (uq *UserQuery) Insert(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, insertUserQuery, u.sqlVariables()...)
}

// Update writes all fields of an existing user and sets UpdatedAt.
func (uq *UserQuery) Update(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, updateUserQuery, string(u.MXID), dbutil.StrPtr(u.WAJID.String()), u.Phone, u.PushName,
		dbutil.StrPtr(u.ManagementRoom), dbutil.StrPtr(u.SpaceRoom), unixMilli(u.UpdatedAt))
}

// Upsert inserts the user or overwrites all its fields except CreatedAt.
func (uq *UserQuery) Upsert(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, upsertUserQuery, u.sqlVariables()...)
}

// ClearLogin forgets the user's WhatsApp device (sets wa_jid to NULL), e.g. after logout.
func (uq *UserQuery) ClearLogin(ctx context.Context, mxid id.UserID) error {
	return uq.qh.Exec(ctx, clearUserLoginQuery, string(mxid), time.Now().UnixMilli())
}
