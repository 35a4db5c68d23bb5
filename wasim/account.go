package wasim

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// Account is one simulated WhatsApp user: a phone number, a LID, a primary phone (device 0, a
// whatsmeow client run by the simulator) and any companion devices paired to it.
type Account struct {
	srv      *Server
	pn       types.JID
	lid      types.JID
	pushName string
	identity *keys.KeyPair // the phone's identity key, which signs companions

	// Guarded by srv.stateLock.
	devices    map[uint16]*device
	nextDevice uint16
	watchers   map[*Account]struct{} // accounts that fetched this account's device list
	phone      *Contact
	container  *sqlstore.Container
	policy     accountPolicy            // see privacytoken.go
	faults     accountFaults            // refusals, bans, silence; see refusal.go
	breaks     map[*Account]*breakFault // armed by BreakNextMessage, keyed by sender

	appState appStateStore    // the server's app state of the account; see appstate.go
	peer     phonePeer        // the phone's app state key and writes; see peer.go
	history  phoneHistory     // the phone's chat history; see history.go
	numbers  numberPrivacy    // hidden phone number; see hiddennumber.go
	presence presenceState    // availability and subscribers; see presence.go
	business *businessProfile // verified business name, nil for an ordinary account; see business.go
}

// device is the server's record of one device of an account.
type device struct {
	acct         *Account
	id           uint16
	noisePub     [32]byte
	regID        uint32
	identity     [32]byte
	signedPreKey preKey
	preKeys      []preKey
	// usedPreKeys are the one-time prekey IDs already handed out; an upload repeating one (a client
	// whose upload was not confirmed sends the same keys again) does not bring it back.
	usedPreKeys map[uint32]struct{}
	queue       []*queued
	conn        *conn
	seen        *idSet
	// announcedName is the push name the device announced with <presence name=...> on its current
	// connection ("" before it did); strict presence stamps it on the device's messages.
	announcedName string
}

type preKey struct {
	id  uint32
	pub [32]byte
	sig [64]byte
}

// JID is the account's phone-number JID (user@s.whatsapp.net).
func (a *Account) JID() types.JID { return a.pn }

// LID is the account's LID (user@lid).
func (a *Account) LID() types.JID { return a.lid }

// PushName is the account's display name.
func (a *Account) PushName() string {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return a.pushName
}

// Phone is the account's primary phone: send through it to act as the user's own phone.
func (a *Account) Phone() *Contact {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return a.phone
}

// Devices lists the account's registered devices (phone first) as PN AD-JIDs.
func (a *Account) Devices() []types.JID {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	out := make([]types.JID, 0, len(a.devices))
	for _, id := range a.sortedDeviceIDs() {
		out = append(out, deviceJID(a.pn, id))
	}
	return out
}

// Online reports whether the given device has an active connection.
func (a *Account) Online(deviceID uint16) bool {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	dev := a.devices[deviceID]
	return dev != nil && dev.conn != nil && dev.conn.active
}

func (a *Account) sortedDeviceIDs() []uint16 {
	ids := make([]uint16, 0, len(a.devices))
	for id := range a.devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// deviceJID returns the AD-JID of device id for a user JID (PN or LID).
func deviceJID(user types.JID, id uint16) types.JID {
	return types.JID{User: user.User, Server: user.Server, Device: id}
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// newLIDUser picks an unused 15-digit LID user. Caller holds stateLock.
func (s *Server) newLIDUser() string {
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(9e13))
		user := fmt.Sprintf("1%014d", n.Int64())
		if s.accountsLID[user] == nil {
			return user
		}
	}
}

// accountFor finds the account of a user JID in either namespace. Caller holds stateLock.
func (s *Server) accountFor(jid types.JID) *Account {
	switch jid.Server {
	case types.DefaultUserServer, types.LegacyUserServer:
		return s.accounts[jid.User]
	case types.HiddenUserServer:
		return s.accountsLID[jid.User]
	}
	return nil
}

// inNamespace returns the account's user JID in the namespace (PN or LID) of like.
func (a *Account) inNamespace(like types.JID) types.JID {
	if like.Server == types.HiddenUserServer {
		return a.lid
	}
	return a.pn
}

// CreateAccount registers a new account with the given phone number and push name and brings its
// primary phone online. The phone is a whatsmeow client provisioned directly by the simulator.
func (s *Server) CreateAccount(ctx context.Context, phone, pushName string) (*Account, error) {
	digits := onlyDigits(phone)
	if len(digits) < 7 || strings.HasPrefix(digits, "0") {
		return nil, fmt.Errorf("invalid phone number %q", phone)
	}
	s.stateLock.Lock()
	if s.closed {
		s.stateLock.Unlock()
		return nil, ErrServerClosed
	} else if s.accounts[digits] != nil {
		s.stateLock.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrAccountExists, digits)
	}
	acct := &Account{
		srv:        s,
		pn:         types.NewJID(digits, types.DefaultUserServer),
		lid:        types.NewJID(s.newLIDUser(), types.HiddenUserServer),
		pushName:   pushName,
		devices:    make(map[uint16]*device),
		nextDevice: 1,
		watchers:   make(map[*Account]struct{}),
	}
	s.accounts[digits] = acct
	s.accountsLID[acct.lid.User] = acct
	s.stateLock.Unlock()

	phoneContact, err := s.provisionPhone(ctx, acct)
	if err != nil {
		s.stateLock.Lock()
		delete(s.accounts, digits)
		delete(s.accountsLID, acct.lid.User)
		s.stateLock.Unlock()
		return nil, err
	}
	s.stateLock.Lock()
	acct.phone = phoneContact
	s.stateLock.Unlock()
	return acct, nil
}

// CreateContact creates an account and returns its phone as a Contact: a simulated WhatsApp user
// who sends and receives through a real whatsmeow client.
func (s *Server) CreateContact(ctx context.Context, phone, pushName string) (*Contact, error) {
	acct, err := s.CreateAccount(ctx, phone, pushName)
	if err != nil {
		return nil, err
	}
	return acct.Phone(), nil
}

// Account looks an account up by phone number.
func (s *Server) Account(phone string) (*Account, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	acct := s.accounts[onlyDigits(phone)]
	if acct == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchAccount, phone)
	}
	return acct, nil
}

func (s *Server) storePath(acct *Account) string {
	return filepath.Join(s.dataDir, acct.pn.User+".db")
}

// RemoveDevice logs a companion out from the phone: an online device gets a device_removed stream
// error, an offline one a 401 failure on its next login. Contacts learn the new device list.
func (a *Account) RemoveDevice(ctx context.Context, deviceID uint16) error {
	if deviceID == 0 {
		return fmt.Errorf("cannot remove the primary phone")
	}
	s := a.srv
	s.stateLock.Lock()
	dev := a.devices[deviceID]
	if dev == nil {
		s.stateLock.Unlock()
		return fmt.Errorf("%w: %d", ErrNoSuchDevice, deviceID)
	}
	c := dev.conn
	s.removeDeviceLocked(dev)
	s.stateLock.Unlock()
	if c != nil {
		c.send(streamError("401", "device_removed"))
		c.closeSoon()
	}
	return nil
}

// removeDeviceLocked forgets a device and its queue and announces the change. Caller holds stateLock.
func (s *Server) removeDeviceLocked(dev *device) {
	acct := dev.acct
	s.dropPresenceLocked(dev)
	delete(acct.devices, dev.id)
	dev.queue = nil
	if dev.conn != nil {
		dev.conn.dev = nil
		dev.conn = nil
	}
	s.announceDeviceChangeLocked(acct, dev.id, false)
}

// registerDeviceLocked adds a finished pairing and announces it. Caller holds stateLock.
func (s *Server) registerDeviceLocked(acct *Account, dev *device) {
	dev.acct = acct
	dev.seen = newIDSet(4096)
	acct.devices[dev.id] = dev
	s.announceDeviceChangeLocked(acct, dev.id, true)
}

func nowString() string {
	return fmt.Sprint(time.Now().Unix())
}
