package whatsapp

import (
	"sync"
	"time"
)

// StateEvent is the connection state of one WhatsApp login, as users and monitoring see it.
type StateEvent string

// The states a login goes through.
const (
	// StateUnconfigured: the user has not logged in to WhatsApp.
	StateUnconfigured StateEvent = "UNCONFIGURED"
	// StateConnecting: a connection attempt is under way.
	StateConnecting StateEvent = "CONNECTING"
	// StateConnected: logged in and online.
	StateConnected StateEvent = "CONNECTED"
	// StateTransientDisconnect: the connection was lost (or WhatsApp answered 503, or stopped
	// answering keepalives) and is being retried with backoff.
	StateTransientDisconnect StateEvent = "TRANSIENT_DISCONNECT"
	// StateBadCredentials: WhatsApp refuses the session for now and the bridge does not retry on
	// its own: a temporary ban (retried when it ends), an outdated client, another client that
	// took the session over, or an unknown refusal; the last error says which (see decide).
	StateBadCredentials StateEvent = "BAD_CREDENTIALS"
	// StateLoggedOut: the session ended (logout, the device was removed from the phone, the phone
	// was offline too long, or WhatsApp logged the device out); the user must log in again.
	StateLoggedOut StateEvent = "LOGGED_OUT"
	// StateDisconnected: the user disconnected on purpose.
	StateDisconnected StateEvent = "DISCONNECTED"
)

// State is a snapshot of a login's state.
type State struct {
	Event StateEvent
	// Since is when the login entered this state.
	Since time.Time
	// ConnectedSince is when the current connection came up (zero when not connected).
	ConnectedSince time.Time
	// Error is the last error seen, kept across state changes until the next successful connect.
	Error string
}

// stateTracker keeps one login's State. It is the single place the state lives in, so that
// commands, metrics and the provisioning API all read the same thing.
type stateTracker struct {
	state State
	lock  sync.Mutex
	// now is time.Now, replaceable in tests.
	now func() time.Time
	// onUpdate, when set, is called after every set, outside the lock (Options.StateChanged).
	onUpdate func(prev, next State)
}

// set moves the login to evt. A non-empty errText becomes the last error; entering
// StateConnected from another state clears it.
func (st *stateTracker) set(evt StateEvent, errText string) State {
	prev, next := st.update(evt, errText)
	if st.onUpdate != nil {
		st.onUpdate(prev, next)
	}
	return next
}

// update is set under the lock; it returns the states before and after.
func (st *stateTracker) update(evt StateEvent, errText string) (prev, next State) {
	st.lock.Lock()
	defer st.lock.Unlock()
	prev = st.state
	if prev.Event == "" {
		prev.Event = StateUnconfigured
	}
	now := time.Now()
	if st.now != nil {
		now = st.now()
	}
	if st.state.Event != evt {
		st.state.Since = now
	}
	st.state.Event = evt
	switch {
	case evt == StateConnected && st.state.ConnectedSince.IsZero():
		st.state.ConnectedSince = now
		st.state.Error = ""
	case evt != StateConnected:
		st.state.ConnectedSince = time.Time{}
	}
	if errText != "" {
		st.state.Error = errText
	}
	return prev, st.state
}

// get returns the current state; a login that never changed state is StateUnconfigured.
func (st *stateTracker) get() State {
	st.lock.Lock()
	defer st.lock.Unlock()
	if st.state.Event == "" {
		return State{Event: StateUnconfigured}
	}
	return st.state
}
