package bridge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// User is a Matrix user who talks to the bridge, with the WhatsApp accounts they linked (each an
// Account). Users are loaded on demand and cached for the bridge's lifetime.
//
// A user may link several WhatsApp accounts; one of them is the default, used by commands and the
// provisioning API when no login is named. A user without a linked account still has one Account
// (the spare): the slot a first login pairs in, which keeps the state of the last session after a
// logout so that `status` can tell why it ended.
type User struct {
	br   *Bridge
	MXID id.UserID
	log  zerolog.Logger

	row     *database.User
	rowLock sync.Mutex
	// chatSettingsLock keeps the app state's chat settings changes of the user from interleaving
	// (bridge/appstate.go).
	chatSettingsLock sync.Mutex

	// accounts are the linked WhatsApp accounts, oldest first; spare is the unlinked slot, used
	// while accounts is empty. Both guarded by accountsLock.
	accounts     []*Account
	spare        *Account
	accountsLock sync.Mutex

	login     *loginSession
	loginLock sync.Mutex
	// apiLogin is the progress of the last login started through the provisioning API (guarded by
	// loginLock; provisioning_progress.go).
	apiLogin *apiLogin
}

// Account is one WhatsApp account of a user: its whatsmeow login, connection, state and contacts,
// and what the bridge tracks per account (history backfill, own presence). It embeds its User, so
// the user's management room and settings are reachable from it.
type Account struct {
	*User
	log zerolog.Logger

	// loginRow is the stored login; nil while the account is not linked (the spare, or a pairing
	// in progress).
	loginRow     *database.UserLogin
	loginRowLock sync.Mutex

	// wa is the account's WhatsApp slot: its client, connection, state and contacts.
	wa *whatsapp.Login

	// history is the progress of the history backfill since the last link (history.go).
	history historyProgress
	// historyRequests are the chats the user asked for earlier history with sync-history.
	historyRequests historyRequests
	// presence is the account's own presence as announced on WhatsApp (presence_own.go).
	presence ownPresence
	// groups are the WhatsApp groups the account is known to be in: listed at each connect
	// (syncChats) and added when it receives an event of a group. Guarded by groupsLock.
	groups     map[types.JID]struct{}
	groupsLock sync.Mutex
}

// GetUser returns the cached user, loading it and its logins from the database or creating it in
// memory. A user is only written to the database once there is something to remember (a
// management room, a login). The database is read without holding the user cache's lock, so a
// user being loaded does not hold up every other user's lookup; when two lookups load the same
// user at once, the first to finish is cached and both return it.
func (br *Bridge) GetUser(ctx context.Context, mxid id.UserID) (*User, error) {
	if user := br.cachedUser(mxid); user != nil {
		return user, nil
	}
	row, err := br.DB.User.GetByMXID(ctx, mxid)
	if err != nil {
		return nil, fmt.Errorf("failed to load user %s: %w", mxid, err)
	}
	logins, err := br.DB.Login.GetAllOf(ctx, mxid)
	if err != nil {
		return nil, fmt.Errorf("failed to load the logins of %s: %w", mxid, err)
	}
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	if user, ok := br.users[mxid]; ok {
		return user, nil
	}
	return br.addUserLocked(mxid, row, logins), nil
}

// cachedUser returns the user of mxid when it is loaded, else nil.
func (br *Bridge) cachedUser(mxid id.UserID) *User {
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	return br.users[mxid]
}

// addUserLocked makes the in-memory user of mxid from its stored row (nil when it has none yet)
// and its logins, oldest first, and caches it. The caller holds usersLock and has checked that
// the user is not cached yet.
func (br *Bridge) addUserLocked(mxid id.UserID, row *database.User, logins []*database.UserLogin) *User {
	if row == nil {
		row = &database.User{MXID: mxid}
	}
	user := &User{br: br, MXID: mxid, row: row, log: br.Log.With().Stringer("user_mxid", mxid).Logger()}
	for _, login := range logins {
		user.accounts = append(user.accounts, user.newAccount(login))
	}
	br.users[mxid] = user
	return user
}

// Default returns the user's default account: the linked account named by the stored default,
// else the oldest linked one, else the spare. It never returns nil.
func (user *User) Default() *Account {
	user.rowLock.Lock()
	def := user.row.DefaultLogin
	user.rowLock.Unlock()
	user.accountsLock.Lock()
	defer user.accountsLock.Unlock()
	for _, acct := range user.accounts {
		if acct.Phone() == def {
			return acct
		}
	}
	if len(user.accounts) > 0 {
		return user.accounts[0]
	}
	if user.spare == nil {
		user.spare = user.newAccount(nil)
	}
	return user.spare
}

// Accounts returns the user's linked accounts, oldest first.
func (user *User) Accounts() []*Account {
	user.accountsLock.Lock()
	defer user.accountsLock.Unlock()
	return slices.Clone(user.accounts)
}

// Account returns the linked account with the given phone number (digits, an optional + and
// separators allowed), or nil.
func (user *User) Account(phone string) *Account {
	digits, ok := phoneDigits(phone)
	if !ok {
		return nil
	}
	for _, acct := range user.Accounts() {
		if acct.Phone() == digits {
			return acct
		}
	}
	return nil
}

// AccountFor returns the account that owns a chat with receiver as the portal key's receiver
// (the account's phone JID): that account when the user has it, else the default account.
func (user *User) AccountFor(receiver types.JID) *Account {
	if !receiver.IsEmpty() {
		for _, acct := range user.Accounts() {
			if acct.WAJID().User == receiver.User {
				return acct
			}
		}
	}
	return user.Default()
}

// DefaultPhone is the phone number (digits) of the stored default login, "" when there is none.
func (user *User) DefaultPhone() string {
	return user.Default().Phone()
}

// SetDefault makes the linked account with the given phone the default and stores it.
func (user *User) SetDefault(ctx context.Context, acct *Account) error {
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	user.row.DefaultLogin = acct.Phone()
	return user.saveLocked(ctx)
}

// newAccount makes the in-memory account of a stored login (nil: an unlinked slot).
func (user *User) newAccount(row *database.UserLogin) *Account {
	br := user.br
	acct := &Account{User: user, loginRow: row, log: user.log}
	if row != nil {
		acct.log = user.log.With().Str("login", row.Phone).Logger()
	}
	acct.wa = whatsapp.NewLogin(whatsapp.Options{
		Background: br.ctx,
		Log:        acct.log,
		Store:      br.DB.WhatsmeowContainer(),
		StoreDB:    br.DB.DB,
		Websocket:  br.waWebsocket,
		Media:      br.waMedia,
		Handler:    waRouter{acct},
		// Sent messages stay answerable to retry receipts across restarts (pruned in inbox.go).
		KeepSentMessages: br.Config.WhatsApp.ResendWindow() > 0,
		// Connect attempts and disconnects are counted where the state changes, and every change
		// is pushed to the status endpoint (bridgestate.go).
		StateChanged: func(prev, next whatsapp.State) {
			br.metrics.LoginStateChanged(prev, next)
			// A further account still pairing has no state of its own to push yet: its
			// receiver would take it for the user's linked account (setLogin pushes it once
			// linked).
			if br.statePush != nil && (!acct.WAJID().IsEmpty() || user.Default() == acct) {
				br.statePush.stateChanged(acct, next)
			}
		},
		Go: br.spawn,
	})
	return acct
}

// connectAllUsers loads every user with a stored WhatsApp login and connects each login in the
// background; it returns once every connection has been started, not made. Users, logins and
// whatsmeow devices are read with one query each: three round trips per user, taking turns on
// the user cache's lock, took 1.5 s of start-up with a hundred users while the first logins'
// connections competed for the same database. One login failing does not hold up the others.
func (br *Bridge) connectAllUsers(ctx context.Context) error {
	users, logins, err := br.loadAllUsers(ctx)
	if err != nil {
		return err
	}
	// A login whose device is not among these (linked meanwhile, or gone from the store) is
	// looked up on its own, and forgotten when it is gone. When the devices cannot be read at
	// once (one unreadable row fails them all), every login is looked up on its own, so that one
	// bad session does not keep the others from connecting.
	stored, err := br.DB.WhatsmeowContainer().GetAllDevices(ctx)
	if err != nil {
		br.Log.Warn().Err(err).Msg("Failed to load all WhatsApp sessions at once, loading them one by one")
		stored = nil
	}
	devices := make(map[types.JID]*store.Device, len(stored))
	for _, device := range stored {
		if device.ID != nil {
			devices[*device.ID] = device
		}
	}
	for _, user := range users {
		for _, acct := range user.Accounts() {
			if err = acct.connectStored(ctx, devices[acct.WAJID()]); err != nil {
				acct.log.Err(err).Msg("Failed to connect stored WhatsApp session")
			}
		}
	}
	br.Log.Info().Int("users", len(users)).Int("logins", logins).Msg("Connecting logged-in users")
	return nil
}

// loadAllUsers loads every user who has a login, with two queries in all (users, logins), and
// returns them in the order the logins are stored in (by Matrix user ID), with the number of
// logins. Users loaded already (by a request that came in meanwhile) are kept as they are.
func (br *Bridge) loadAllUsers(ctx context.Context) ([]*User, int, error) {
	loginRows, err := br.DB.Login.GetAll(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("failed to load logins: %w", err)
	}
	userRows, err := br.DB.User.GetAllWithLogins(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("failed to load users: %w", err)
	}
	rowOf := make(map[id.UserID]*database.User, len(userRows))
	for _, row := range userRows {
		rowOf[row.MXID] = row
	}
	var order []id.UserID
	loginsOf := make(map[id.UserID][]*database.UserLogin)
	for _, login := range loginRows {
		if _, seen := loginsOf[login.UserMXID]; !seen {
			order = append(order, login.UserMXID)
		}
		loginsOf[login.UserMXID] = append(loginsOf[login.UserMXID], login)
	}
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	users := make([]*User, 0, len(order))
	for _, mxid := range order {
		user, ok := br.users[mxid]
		if !ok {
			user = br.addUserLocked(mxid, rowOf[mxid], loginsOf[mxid])
		}
		users = append(users, user)
	}
	return users, len(loginRows), nil
}

// loadedUsers returns the users the bridge has in memory.
func (br *Bridge) loadedUsers() []*User {
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	users := make([]*User, 0, len(br.users))
	for _, user := range br.users {
		users = append(users, user)
	}
	return users
}

// allAccounts returns the accounts of every loaded user, linked ones and spares, ordered by
// Matrix user ID and then oldest first.
func (br *Bridge) allAccounts() []*Account {
	users := br.loadedUsers()
	slices.SortFunc(users, func(a, b *User) int { return strings.Compare(string(a.MXID), string(b.MXID)) })
	var out []*Account
	for _, user := range users {
		user.accountsLock.Lock()
		out = append(out, user.accounts...)
		if len(user.accounts) == 0 && user.spare != nil {
			out = append(out, user.spare)
		}
		user.accountsLock.Unlock()
	}
	return out
}

// linkedAccounts returns the linked accounts of every loaded user, ordered like allAccounts.
func (br *Bridge) linkedAccounts() []*Account {
	var out []*Account
	for _, acct := range br.allAccounts() {
		if !acct.WAJID().IsEmpty() {
			out = append(out, acct)
		}
	}
	return out
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
	return nil
}

// WAJID returns the JID of the account's WhatsApp device, or an empty JID when it is not linked.
func (acct *Account) WAJID() types.JID {
	acct.loginRowLock.Lock()
	defer acct.loginRowLock.Unlock()
	if acct.loginRow == nil {
		return types.EmptyJID
	}
	return acct.loginRow.WAJID
}

// Phone returns the account's phone number in digits (its login ID), "" when it is not linked.
func (acct *Account) Phone() string {
	acct.loginRowLock.Lock()
	defer acct.loginRowLock.Unlock()
	if acct.loginRow == nil {
		return ""
	}
	return acct.loginRow.Phone
}

// States returns the state of every account the bridge has loaded, keyed by Matrix user ID for a
// user's default (or only) account and by "user ID|phone" for the others.
func (br *Bridge) States() map[string]whatsapp.State {
	out := make(map[string]whatsapp.State)
	for _, acct := range br.allAccounts() {
		out[acct.stateKey()] = acct.wa.State()
	}
	return out
}

// stateKey names the account in States.
func (acct *Account) stateKey() string {
	if acct.Default() == acct {
		return acct.MXID.String()
	}
	return acct.MXID.String() + "|" + acct.Phone()
}
