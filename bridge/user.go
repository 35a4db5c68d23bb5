package bridge

import (
	"context"
	"fmt"
	"sync"

	"maunium.net/go/mautrix/id"

	"matrix-whatsapp/database"
)

// User is a Matrix user who talks to the bridge. Users are loaded on demand and cached; only users
// who did something worth remembering (a management room, a login) are stored in the database.
type User struct {
	br   *Bridge
	MXID id.UserID

	row     *database.User
	stored  bool
	rowLock sync.Mutex
}

// GetUser returns the cached user, loading it from the database or creating it in memory.
func (br *Bridge) GetUser(ctx context.Context, mxid id.UserID) (*User, error) {
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	if user, ok := br.users[mxid]; ok {
		return user, nil
	}
	row, err := br.DB.User.GetByMXID(ctx, mxid)
	if err != nil {
		return nil, fmt.Errorf("failed to load user %s: %w", mxid, err)
	}
	user := &User{br: br, MXID: mxid, row: row, stored: row != nil}
	if row == nil {
		user.row = &database.User{MXID: mxid}
	}
	br.users[mxid] = user
	return user, nil
}

// PermissionLevel is the level bridge.permissions grants this user.
func (user *User) PermissionLevel() int {
	return user.br.Config.PermissionLevel(user.MXID.String())
}

// ManagementRoom returns the user's management room, or "" when there is none yet.
func (user *User) ManagementRoom() id.RoomID {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return user.row.ManagementRoom
}

// SetManagementRoom makes roomID the user's management room and stores it.
func (user *User) SetManagementRoom(ctx context.Context, roomID id.RoomID) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.ManagementRoom = roomID
	return user.saveLocked(ctx)
}

func (user *User) saveLocked(ctx context.Context) error {
	if err := user.br.DB.User.Upsert(ctx, user.row); err != nil {
		return fmt.Errorf("failed to save user %s: %w", user.MXID, err)
	}
	user.stored = true
	return nil
}
