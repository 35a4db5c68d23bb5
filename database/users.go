package database

import (
	"context"
	"database/sql"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

const (
	userColumns = `mxid, management_room, space_room, double_puppet_off, default_login, created_at, updated_at`

	getUserByMXIDQuery      = `SELECT ` + userColumns + ` FROM users WHERE mxid=$1`
	getUsersWithLoginsQuery = `SELECT ` + userColumns + ` FROM users WHERE mxid IN (SELECT user_mxid FROM user_logins)`
	insertUserQuery         = `
		INSERT INTO users (` + userColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
	`
	upsertUserQuery = insertUserQuery + `
		ON CONFLICT (mxid) DO UPDATE SET
			management_room=excluded.management_room, space_room=excluded.space_room,
			double_puppet_off=excluded.double_puppet_off, default_login=excluded.default_login,
			updated_at=excluded.updated_at
	`
	updateUserQuery = `
		UPDATE users SET management_room=$2, space_room=$3, double_puppet_off=$4, default_login=$5, updated_at=$6
		WHERE mxid=$1
	`
)

// User is a Matrix user of the bridge. Its WhatsApp accounts are UserLogin rows.
type User struct {
	MXID           id.UserID
	ManagementRoom id.RoomID
	SpaceRoom      id.RoomID
	// DoublePuppetOff is set when the user turned double puppeting off (double-puppet off).
	DoublePuppetOff bool
	// DefaultLogin is the phone number (digits) of the login that commands and the provisioning
	// API use when none is named; "" when the user has no login.
	DefaultLogin string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func newUser() *User { return &User{} }

// Scan reads one users row.
func (u *User) Scan(row dbutil.Scannable) (*User, error) {
	var mgmtRoom, spaceRoom sql.NullString
	var created, updated int64
	err := row.Scan(&u.MXID, &mgmtRoom, &spaceRoom, &u.DoublePuppetOff, &u.DefaultLogin, &created, &updated)
	if err != nil {
		return nil, err
	}
	u.ManagementRoom = id.RoomID(mgmtRoom.String)
	u.SpaceRoom = id.RoomID(spaceRoom.String)
	u.CreatedAt, u.UpdatedAt = fromUnixMilli(created), fromUnixMilli(updated)
	return u, nil
}

func (u *User) sqlVariables() []any {
	return []any{
		string(u.MXID), dbutil.StrPtr(u.ManagementRoom), dbutil.StrPtr(u.SpaceRoom), u.DoublePuppetOff,
		u.DefaultLogin, unixMilli(u.CreatedAt), unixMilli(u.UpdatedAt),
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

// GetAllWithLogins returns every user with at least one stored WhatsApp login, in no particular
// order: what start-up loads at once instead of one GetByMXID per user.
func (uq *UserQuery) GetAllWithLogins(ctx context.Context) ([]*User, error) {
	return uq.qh.QueryMany(ctx, getUsersWithLoginsQuery)
}

// Insert adds a new user. It sets CreatedAt (if unset) and UpdatedAt.
func (uq *UserQuery) Insert(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, insertUserQuery, u.sqlVariables()...)
}

// Update writes all fields of an existing user and sets UpdatedAt.
func (uq *UserQuery) Update(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, updateUserQuery, string(u.MXID), dbutil.StrPtr(u.ManagementRoom), dbutil.StrPtr(u.SpaceRoom),
		u.DoublePuppetOff, u.DefaultLogin, unixMilli(u.UpdatedAt))
}

// Upsert inserts the user or overwrites all its fields except CreatedAt.
func (uq *UserQuery) Upsert(ctx context.Context, u *User) error {
	u.touch()
	return uq.qh.Exec(ctx, upsertUserQuery, u.sqlVariables()...)
}
