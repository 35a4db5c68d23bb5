package database

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	userLoginColumns = `user_mxid, phone, wa_jid, push_name, created_at, updated_at`

	getUserLoginsQuery    = `SELECT ` + userLoginColumns + ` FROM user_logins WHERE user_mxid=$1 ORDER BY created_at, phone`
	getAllUserLoginsQuery = `SELECT ` + userLoginColumns + ` FROM user_logins ORDER BY user_mxid, created_at, phone`
	upsertUserLoginQuery  = `
		INSERT INTO user_logins (` + userLoginColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_mxid, phone) DO UPDATE SET
			wa_jid=excluded.wa_jid, push_name=excluded.push_name, updated_at=excluded.updated_at
	`
	deleteUserLoginQuery = `DELETE FROM user_logins WHERE user_mxid=$1 AND phone=$2`
)

// UserLogin is one WhatsApp account a Matrix user linked to the bridge. A user may have several;
// (UserMXID, Phone) is the key, and each device JID belongs to one login.
type UserLogin struct {
	UserMXID id.UserID
	// Phone is the account's phone number in digits (the JID's user part): the login's ID.
	Phone string
	// WAJID is the bridge's own device JID (with device part).
	WAJID     types.JID
	PushName  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func newUserLogin() *UserLogin { return &UserLogin{} }

// Scan reads one user_logins row.
func (l *UserLogin) Scan(row dbutil.Scannable) (*UserLogin, error) {
	var waJID string
	var created, updated int64
	if err := row.Scan(&l.UserMXID, &l.Phone, &waJID, &l.PushName, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if l.WAJID, err = types.ParseJID(waJID); err != nil {
		return nil, fmt.Errorf("failed to parse wa_jid of %s's login %s: %w", l.UserMXID, l.Phone, err)
	}
	l.CreatedAt, l.UpdatedAt = fromUnixMilli(created), fromUnixMilli(updated)
	return l, nil
}

// UserLoginQuery reads and writes the user_logins table.
type UserLoginQuery struct {
	qh *dbutil.QueryHelper[*UserLogin]
}

// GetAllOf returns the logins of a user, oldest first.
func (q *UserLoginQuery) GetAllOf(ctx context.Context, mxid id.UserID) ([]*UserLogin, error) {
	return q.qh.QueryMany(ctx, getUserLoginsQuery, string(mxid))
}

// GetAll returns every login, by user and then oldest first.
func (q *UserLoginQuery) GetAll(ctx context.Context) ([]*UserLogin, error) {
	return q.qh.QueryMany(ctx, getAllUserLoginsQuery)
}

// Upsert stores a login (the user must be stored), replacing the device JID and push name of an
// existing login of the same phone; CreatedAt stays that of the first store.
func (q *UserLoginQuery) Upsert(ctx context.Context, l *UserLogin) error {
	l.UpdatedAt = time.Now()
	if l.CreatedAt.IsZero() {
		l.CreatedAt = l.UpdatedAt
	}
	return q.qh.Exec(ctx, upsertUserLoginQuery, string(l.UserMXID), l.Phone, l.WAJID.String(), l.PushName,
		unixMilli(l.CreatedAt), unixMilli(l.UpdatedAt))
}

// Delete forgets a user's login of the given phone; a login that does not exist is no error.
func (q *UserLoginQuery) Delete(ctx context.Context, mxid id.UserID, phone string) error {
	return q.qh.Exec(ctx, deleteUserLoginQuery, string(mxid), phone)
}
