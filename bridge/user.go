package bridge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// User is a Matrix user who talks to the bridge, and their WhatsApp login if they have one. Users are
// loaded on demand and cached for the bridge's lifetime.
type User struct {
	br   *Bridge
	MXID id.UserID
	log  zerolog.Logger

	row     *database.User
	rowLock sync.Mutex
	// ownLID is the account's LID, guarded by rowLock. The bridge keeps its own copy because
	// whatsmeow's device store fields are written by whatsmeow's goroutines without a lock.
	ownLID types.JID
	// pairedJID is set by the PairSuccess event of a login in progress (guarded by rowLock).
	pairedJID types.JID

	// client is the current whatsmeow client (nil when not logged in or during cleanup).
	client     *whatsmeow.Client
	clientLock sync.Mutex
	// connecting is set while a connect loop runs; reconnectNow cuts its backoff short.
	connecting   atomic.Bool
	reconnectNow chan struct{}
	// connectedWaiters are closed on the next Connected event.
	connectedWaiters []chan struct{}
	waitersLock      sync.Mutex

	state    stateTracker
	contacts contactCache

	login     *loginSession
	loginLock sync.Mutex
}

// GetUser returns the cached user, loading it from the database or creating it in memory. A user is
// only written to the database once there is something to remember (a management room, a login).
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
	if row == nil {
		row = &database.User{MXID: mxid}
	}
	user := br.newUser(row)
	br.users[mxid] = user
	return user, nil
}

func (br *Bridge) newUser(row *database.User) *User {
	return &User{
		br:           br,
		MXID:         row.MXID,
		row:          row,
		log:          br.Log.With().Stringer("user_mxid", row.MXID).Logger(),
		reconnectNow: make(chan struct{}, 1),
	}
}

// connectAllUsers loads every user with a stored WhatsApp session and connects them in the
// background. Users connect concurrently; one failing does not hold up the others.
func (br *Bridge) connectAllUsers(ctx context.Context) error {
	rows, err := br.DB.User.GetAllLoggedIn(ctx)
	if err != nil {
		return fmt.Errorf("failed to load logged-in users: %w", err)
	}
	for _, row := range rows {
		br.usersLock.Lock()
		user, ok := br.users[row.MXID]
		if !ok {
			user = br.newUser(row)
			br.users[row.MXID] = user
		}
		br.usersLock.Unlock()
		if err = user.connectStored(ctx); err != nil {
			user.log.Err(err).Msg("Failed to connect stored WhatsApp session")
		}
	}
	br.Log.Info().Int("users", len(rows)).Msg("Connecting logged-in users")
	return nil
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

// WAJID returns the JID of the user's WhatsApp device, or an empty JID when not logged in.
func (user *User) WAJID() types.JID {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return user.row.WAJID
}

// SetManagementRoom makes roomID the user's management room and stores it.
func (user *User) SetManagementRoom(ctx context.Context, roomID id.RoomID) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.ManagementRoom = roomID
	return user.saveLocked(ctx)
}

// setLogin stores the WhatsApp device the user is now logged in with.
func (user *User) setLogin(ctx context.Context, jid types.JID, phone, pushName string) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.WAJID = jid
	user.row.Phone = phone
	user.row.PushName = pushName
	return user.saveLocked(ctx)
}

// clearLogin forgets the user's WhatsApp device (the whatsmeow store is handled by the caller).
func (user *User) clearLogin(ctx context.Context) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.WAJID = types.EmptyJID
	user.ownLID, user.pairedJID = types.EmptyJID, types.EmptyJID
	return user.saveLocked(ctx)
}

func (user *User) saveLocked(ctx context.Context) error {
	if err := user.br.DB.User.Upsert(ctx, user.row); err != nil {
		return fmt.Errorf("failed to save user %s: %w", user.MXID, err)
	}
	return nil
}

func (user *User) getClient() *whatsmeow.Client {
	user.clientLock.Lock()
	defer user.clientLock.Unlock()
	return user.client
}

func (user *User) setClient(cli *whatsmeow.Client) {
	user.clientLock.Lock()
	defer user.clientLock.Unlock()
	user.client = cli
}

// waitConnected returns a channel closed by the next Connected event.
func (user *User) waitConnected() <-chan struct{} {
	ch := make(chan struct{})
	user.waitersLock.Lock()
	user.connectedWaiters = append(user.connectedWaiters, ch)
	user.waitersLock.Unlock()
	return ch
}

func (user *User) signalConnected() {
	user.waitersLock.Lock()
	defer user.waitersLock.Unlock()
	for _, ch := range user.connectedWaiters {
		close(ch)
	}
	user.connectedWaiters = nil
}

// OwnLID returns the LID of the user's WhatsApp account, or an empty JID.
func (user *User) OwnLID() types.JID {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return user.ownLID
}

func (user *User) setPaired(jid, lid types.JID) {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.pairedJID, user.ownLID = jid, lid.ToNonAD()
}

func (user *User) paired() types.JID {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	return user.pairedJID
}
