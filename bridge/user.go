package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// User is a Matrix user who talks to the bridge, and their WhatsApp login if they have one. Users are
// loaded on demand and cached for the bridge's lifetime.
type User struct {
	br   *Bridge
	MXID id.UserID
	log  zerolog.Logger

	row     *database.User
	rowLock sync.Mutex
	// chatSettingsLock keeps the app state's chat settings changes of the user from interleaving
	// (bridge/appstate.go).
	chatSettingsLock sync.Mutex

	// wa is the user's WhatsApp account slot: its client, connection, state and contacts.
	wa *whatsapp.Login

	login     *loginSession
	loginLock sync.Mutex

	// history is the progress of the history backfill since the last link (history.go).
	history historyProgress
	// historyRequests are the chats the user asked for earlier history with sync-history.
	historyRequests historyRequests
	// apiLogin is the progress of the last login started through the provisioning API (guarded by
	// loginLock; provisioning_progress.go).
	apiLogin *apiLogin
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
	user := &User{
		br:   br,
		MXID: row.MXID,
		row:  row,
		log:  br.Log.With().Stringer("user_mxid", row.MXID).Logger(),
	}
	user.wa = whatsapp.NewLogin(whatsapp.Options{
		Background: br.ctx,
		Log:        user.log,
		Store:      br.DB.WhatsmeowContainer(),
		Websocket:  br.waWebsocket,
		Media:      br.waMedia,
		Handler:    waRouter{user},
		// Connect attempts and disconnects are counted where the state changes.
		StateChanged: br.metrics.LoginStateChanged,
		Go:           br.spawn,
	})
	return user
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

// clearLogin forgets the user's WhatsApp device (the whatsmeow store is the Login's).
func (user *User) clearLogin(ctx context.Context) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.WAJID = types.EmptyJID
	return user.saveLocked(ctx)
}

func (user *User) saveLocked(ctx context.Context) error {
	if err := user.br.DB.User.Upsert(ctx, user.row); err != nil {
		return fmt.Errorf("failed to save user %s: %w", user.MXID, err)
	}
	return nil
}

// connectStored connects the user's stored WhatsApp session, if there is one. It returns at once;
// the connection is made (and retried) in the background. A session gone from the store is
// forgotten.
func (user *User) connectStored(ctx context.Context) error {
	jid := user.WAJID()
	if jid.IsEmpty() {
		return nil
	}
	err := user.wa.ConnectStored(ctx, jid)
	if errors.Is(err, whatsapp.ErrSessionGone) {
		return user.clearLogin(ctx)
	}
	return err
}

// States returns the state of every user the bridge has loaded, by Matrix user ID.
func (br *Bridge) States() map[string]whatsapp.State {
	br.usersLock.Lock()
	users := make([]*User, 0, len(br.users))
	for _, user := range br.users {
		users = append(users, user)
	}
	br.usersLock.Unlock()
	out := make(map[string]whatsapp.State, len(users))
	for _, user := range users {
		out[user.MXID.String()] = user.wa.State()
	}
	return out
}
