package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Linking and unlinking a user's WhatsApp accounts, and which account acts in which chat.

// AccountForChat returns the account the user acts through in the chat of key: for a 1:1 chat
// the account it belongs to (AccountFor), for a group the default account when it is in the
// group or none of the user's accounts is known to be, else the oldest account in the group;
// for the zero key the default account.
func (user *User) AccountForChat(key database.PortalKey) *Account {
	if !key.Receiver.IsEmpty() || key.JID.Server != types.GroupServer {
		return user.AccountFor(key.Receiver)
	}
	def := user.Default()
	if def.inGroup(key.JID) {
		return def
	}
	for _, acct := range user.Accounts() {
		if acct.inGroup(key.JID) {
			return acct
		}
	}
	return def
}

// inGroup reports whether the account is known to be in the group.
func (acct *Account) inGroup(group types.JID) bool {
	acct.groupsLock.Lock()
	defer acct.groupsLock.Unlock()
	_, ok := acct.groups[group]
	return ok
}

// noteGroups records groups the account is in; with replace, they are all of them.
func (acct *Account) noteGroups(replace bool, groups ...types.JID) {
	acct.groupsLock.Lock()
	defer acct.groupsLock.Unlock()
	if replace || acct.groups == nil {
		acct.groups = make(map[types.JID]struct{}, len(groups))
	}
	for _, group := range groups {
		acct.groups[group.ToNonAD()] = struct{}{}
	}
}

// pairingAccount returns the account a new login pairs in: the spare while the user has no
// linked account (so that the first login behaves as it always did), else a fresh one that
// becomes a linked account once the pairing succeeds.
func (user *User) pairingAccount() *Account {
	user.accountsLock.Lock()
	defer user.accountsLock.Unlock()
	if len(user.accounts) == 0 {
		if user.spare == nil {
			user.spare = user.newAccount(nil)
		}
		return user.spare
	}
	return user.newAccount(nil)
}

// setLogin stores the WhatsApp device the account is now linked with and makes it one of the
// user's accounts (the default when it is the first). A linked account of the same phone is
// replaced: its old device is logged out. The bridge state is pushed again, now naming the
// account (the login may have reported CONNECTED before).
func (acct *Account) setLogin(ctx context.Context, jid types.JID, phone, pushName string) error {
	user := acct.User
	user.rowLock.Lock()
	if user.row.DefaultLogin == "" || user.Account(user.row.DefaultLogin) == nil {
		user.row.DefaultLogin = phone
	}
	err := user.saveLocked(ctx) // the login row refers to the user row
	user.rowLock.Unlock()
	if err != nil {
		return err
	}
	row := &database.UserLogin{UserMXID: user.MXID, Phone: phone, WAJID: jid, PushName: pushName}
	var replaced *Account
	user.accountsLock.Lock()
	for i, other := range user.accounts {
		if other != acct && other.Phone() == phone {
			replaced = other
			user.accounts = slices.Delete(user.accounts, i, i+1)
			break
		}
	}
	if replaced != nil {
		replaced.loginRowLock.Lock()
		row.CreatedAt = replaced.loginRow.CreatedAt
		replaced.loginRowLock.Unlock()
	}
	err = user.br.DB.Login.Upsert(ctx, row)
	if err == nil {
		acct.loginRowLock.Lock()
		acct.loginRow = row
		acct.loginRowLock.Unlock()
		if !slices.Contains(user.accounts, acct) {
			user.accounts = append(user.accounts, acct)
		}
		if user.spare == acct {
			user.spare = nil
		}
	} else if replaced != nil {
		user.accounts = append(user.accounts, replaced)
	}
	user.accountsLock.Unlock()
	if err != nil {
		return fmt.Errorf("failed to save the login %s of %s: %w", phone, user.MXID, err)
	}
	if replaced != nil {
		// The old device's account no longer stands for the login: nothing it does afterwards
		// may touch the stored login, which is the new device's now.
		replaced.loginRowLock.Lock()
		replaced.loginRow = nil
		replaced.loginRowLock.Unlock()
		replaced.stopPresence() // presence_own.go
		if _, logoutErr := replaced.wa.Logout(ctx); logoutErr != nil {
			acct.log.Warn().Err(logoutErr).Msg("Failed to log out the replaced device of the same account")
		}
	}
	if push := user.br.statePush; push != nil {
		push.stateChanged(acct, acct.wa.State())
	}
	return nil
}

// clearLogin forgets the account's WhatsApp device (the whatsmeow store is the Login's): it is no
// longer one of the user's accounts, and the oldest remaining one becomes the default if it was.
// When it was the last one it stays as the user's spare, keeping its state for `status`.
func (acct *Account) clearLogin(ctx context.Context) error {
	acct.stopPresence() // presence_own.go
	user := acct.User
	phone := acct.Phone()
	acct.loginRowLock.Lock()
	acct.loginRow = nil
	acct.loginRowLock.Unlock()
	user.accountsLock.Lock()
	if i := slices.Index(user.accounts, acct); i >= 0 {
		user.accounts = slices.Delete(user.accounts, i, i+1)
	}
	if len(user.accounts) == 0 {
		user.spare = acct
	}
	var next string
	if len(user.accounts) > 0 {
		next = user.accounts[0].Phone()
	}
	user.accountsLock.Unlock()
	if phone == "" {
		return nil
	}
	if err := user.br.DB.Login.Delete(ctx, user.MXID, phone); err != nil {
		return fmt.Errorf("failed to forget the login %s of %s: %w", phone, user.MXID, err)
	}
	user.rowLock.Lock()
	defer user.rowLock.Unlock()
	if user.row.DefaultLogin != phone {
		return nil
	}
	user.row.DefaultLogin = next
	return user.saveLocked(ctx)
}

// connectStored connects the account's stored WhatsApp session, if there is one: device when the
// caller loaded it already (start-up loads every device at once), else looked up in the store. It
// returns at once; the connection is made (and retried) in the background. A session gone from
// the store is forgotten.
func (acct *Account) connectStored(ctx context.Context, device *store.Device) error {
	jid := acct.WAJID()
	if jid.IsEmpty() {
		return nil
	}
	if device != nil {
		acct.wa.ConnectDevice(device)
		return nil
	}
	err := acct.wa.ConnectStored(ctx, jid)
	if errors.Is(err, whatsapp.ErrSessionGone) {
		return acct.clearLogin(ctx)
	}
	return err
}

// heldDecryption returns the store writes of the decryption this goroutine (whatsmeow's, in an
// event handler) holds, for the insert that stores the decrypted message to carry; nil when there
// are none (whatsapp.Login.HeldDecryption, with its error).
func (acct *Account) heldDecryption() (*sessionlock.Held, error) {
	if acct.wa == nil {
		return nil, nil
	}
	return acct.wa.HeldDecryption()
}

// loginID is the account's phone number in digits: the stored login's, or while the link is
// being completed the paired device's.
func (acct *Account) loginID() string {
	if phone := acct.Phone(); phone != "" {
		return phone
	}
	return acct.wa.JID().User
}

// inboxAccount is the account that received a stored WhatsApp event: the linked account of the
// phone the row names ("" for rows stored before users had several logins: the default); nil
// when there is none (yet: an event that arrives while a link completes waits for it).
func (user *User) inboxAccount(phone string) *Account {
	if phone == "" {
		return user.Default()
	}
	if acct := user.Account(phone); acct != nil {
		return acct
	}
	return nil
}
