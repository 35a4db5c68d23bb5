package whatsapp

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
)

// ErrNotLoggedIn is returned by operations that need a WhatsApp client when the login has none.
var ErrNotLoggedIn = errors.New("not logged in to WhatsApp")

// ErrSessionGone is returned by ConnectStored when the device is no longer in the store; the login
// is then in StateLoggedOut and the caller should forget it.
var ErrSessionGone = errors.New("the WhatsApp session was not found in the database")

// Options is what a Login needs from the bridge.
type Options struct {
	// Background is the context of the login's background work (the connect loop, event
	// handling). Cancelling it ends that work; it should carry nothing a request may cancel.
	Background context.Context
	// Log carries the login's fixed fields (e.g. user_mxid).
	Log zerolog.Logger
	// Store holds the whatsmeow devices.
	Store *sqlstore.Container
	// StoreDB is the database Store writes to (its transactions tell internal/sessionlock when a
	// session load needs no lease); nil is allowed.
	StoreDB *dbutil.Database
	// Websocket and Media are the HTTP clients of the connection; nil means whatsmeow's defaults.
	Websocket, Media *http.Client
	// Handler receives the events the login does not handle itself. Required.
	Handler Handler
	// StateChanged, when set, is called after every state update of the login (also when the state
	// stays the same, e.g. CONNECTED confirmed twice), with the state before and after. It runs on
	// the goroutine that changed the state and must not block or call back into the login; it is
	// meant for counting (connect attempts, disconnects).
	StateChanged func(prev, next State)
	// KeepSentMessages stores every message the client sends in whatsmeow's retry buffer (in the
	// Store's database), so that a retry receipt for it is answered after a restart too; without it
	// only whatsmeow's in-memory cache of recent messages can answer. The owner prunes the buffer
	// (database.PruneSentMessages); the client does not.
	KeepSentMessages bool
	// Go runs fn in a goroutine the owner waits for at shutdown, and reports whether it started it
	// (false once the owner is stopping). Nil means a plain goroutine.
	Go func(fn func()) bool
}

// Login is one WhatsApp account slot of a bridge user: at most one whatsmeow client (device) at a
// time, its connection with the bridge's own reconnect loop, pairing, the single event switch, the
// account's contacts and pictures, and its state. All methods are safe for concurrent use.
type Login struct {
	opts Options
	log  zerolog.Logger

	// client is the current whatsmeow client (nil when not logged in or during cleanup). Events of
	// any other client are ignored.
	client     *whatsmeow.Client
	clientLock sync.Mutex
	// ownPushName is the account's push name from app state (guarded by clientLock; appstate.go).
	ownPushName string
	// appStateSynced holds the app state collections the device has synced in full at least once
	// (guarded by clientLock; appstate.go).
	appStateSynced map[string]bool
	// appStatePending is the client of a stored device whose progress has yet to be read from the
	// store (before its first connection, connect.go), nil when none (guarded by clientLock).
	appStatePending *whatsmeow.Client

	// jid and lid are the account's device JID and LID, set when a stored session is connected or a
	// pairing succeeds. The login keeps its own copy because whatsmeow's device store fields are
	// written by whatsmeow's goroutines without a lock.
	jid, lid types.JID
	idLock   sync.Mutex

	// loopRunning is set while a connect loop runs; loopAgain asks it to run once more when it
	// ends, for loopNext (the client startConnectLoop was last called with). All guarded by
	// loopLock. reconnectNow cuts a running loop's backoff short.
	loopLock     sync.Mutex
	loopRunning  bool
	loopAgain    bool
	loopNext     *whatsmeow.Client
	reconnectNow chan struct{}
	loopWake     chan struct{}
	// connectedWaiters are closed on the next Connected event.
	connectedWaiters []chan struct{}
	waitersLock      sync.Mutex

	state    stateTracker
	retry    retryState
	contacts contactCache
	presence presenceSubs // presence.go
}

// NewLogin makes a login with no client; ConnectStored or Pair gives it one.
func NewLogin(opts Options) *Login {
	if opts.Go == nil {
		opts.Go = func(fn func()) bool { go fn(); return true }
	}
	l := &Login{opts: opts, log: opts.Log, reconnectNow: make(chan struct{}, 1), loopWake: make(chan struct{}, 1)}
	l.state.onUpdate = opts.StateChanged
	return l
}

// newClient makes a whatsmeow client for device, wired to the configured servers, and makes it
// the login's current client.
//
// SynchronousAck is on: WhatsApp gets the acknowledgement of a message only after the handler has
// returned, that is, after the message is safely bridged. whatsmeow's own reconnect loop is off in
// favour of ours (exponential backoff with jitter, see connectLoop).
func (l *Login) newClient(device *store.Device) *whatsmeow.Client {
	// Encryption and decryption of one Signal session take turns; whatsmeow alone can reuse a
	// message counter, and the contact then drops that message silently.
	sessionlock.Install(device, l.opts.StoreDB, l.log.With().Str("component", "sessionlock").Logger())
	// A decrypted message's store writes wait for the handler's insert to carry them (HeldDecryption).
	sessionlock.CarryDecryptions(device)
	cli := whatsmeow.NewClient(device, newWALogger(l.log.With().Str("component", "whatsmeow").Logger()))
	ApplyTransport(cli, l.opts.Websocket, l.opts.Media)
	cli.SynchronousAck = true
	cli.EnableAutoReconnect = false
	// Keep decrypted plaintext until the handler succeeded, so that a message WhatsApp delivers again
	// (because bridging it failed) can still be read after the Signal ratchet moved on.
	cli.EnableDecryptedEventBuffer = true
	// The first full app state sync produces events like later changes, so that saved contact names
	// and chat settings are bridged from the start (appstate.go).
	cli.EmitAppStateEventsOnFullSync = true
	// A device that could not decrypt a message we sent asks for it again with a retry receipt,
	// possibly after a restart (see Options.KeepSentMessages).
	cli.UseRetryMessageStore = l.opts.KeepSentMessages
	if l.opts.KeepSentMessages {
		keepSentMessagesPrunedByOwner(device)
	}
	l.setOwnPushName(device.PushName)
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool { return l.handleEvent(cli, evt) })
	l.setClient(cli)
	return cli
}

// HeldDecryption returns the store writes of the message decryption that the calling goroutine
// holds (a handler of a decrypted message runs on whatsmeow's decrypting goroutine), for the
// statement that stores the event to carry (sessionlock.Take, then Held.Done); nil when there are
// none. An error means those writes were written on their own and failed: the handler must fail.
func (l *Login) HeldDecryption() (*sessionlock.Held, error) {
	if cli := l.Client(); cli != nil {
		return sessionlock.Take(cli.Store)
	}
	return nil, nil
}

// Client returns the current whatsmeow client, connected or not, or nil when there is none.
func (l *Login) Client() *whatsmeow.Client {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	return l.client
}

// ConnectedClient returns the current client when it is connected and logged in (StateConnected),
// else nil. A socket that is open but was never let in (a refused or silent login) does not count:
// what is sent on it would go nowhere.
func (l *Login) ConnectedClient() *whatsmeow.Client {
	if cli := l.Client(); cli != nil && cli.IsConnected() && l.state.get().Event == StateConnected {
		return cli
	}
	return nil
}

// LIDs returns the account's LID <-> phone number store, or nil when there is no client.
func (l *Login) LIDs() store.LIDStore {
	if cli := l.Client(); cli != nil && cli.Store != nil && cli.Store.LIDs != nil {
		return cli.Store.LIDs
	}
	return nil
}

func (l *Login) setClient(cli *whatsmeow.Client) {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	l.client = cli
	l.startAppStateProgressLocked(cli) // appstate.go
}

// takeClient removes the current client from the login and returns it (nil when there was none).
func (l *Login) takeClient() *whatsmeow.Client {
	l.clientLock.Lock()
	defer l.clientLock.Unlock()
	cli := l.client
	l.client = nil
	l.appStatePending = nil
	return cli
}

// JID returns the device JID of the account, or an empty JID before a session is connected or
// paired.
func (l *Login) JID() types.JID {
	l.idLock.Lock()
	defer l.idLock.Unlock()
	return l.jid
}

// LID returns the account's LID (without device), or an empty JID when unknown.
func (l *Login) LID() types.JID {
	l.idLock.Lock()
	defer l.idLock.Unlock()
	return l.lid
}

func (l *Login) setIDs(jid, lid types.JID) {
	l.idLock.Lock()
	defer l.idLock.Unlock()
	l.jid, l.lid = jid, lid.ToNonAD()
}

// State returns the login's current connection state.
func (l *Login) State() State {
	return l.state.get()
}

// waitConnected returns a channel closed by the next Connected event.
func (l *Login) waitConnected() <-chan struct{} {
	ch := make(chan struct{})
	l.waitersLock.Lock()
	l.connectedWaiters = append(l.connectedWaiters, ch)
	l.waitersLock.Unlock()
	return ch
}

func (l *Login) signalConnected() {
	l.waitersLock.Lock()
	defer l.waitersLock.Unlock()
	for _, ch := range l.connectedWaiters {
		close(ch)
	}
	l.connectedWaiters = nil
}
