package bridge

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
	// StateTransientDisconnect: the connection was lost and is being retried.
	StateTransientDisconnect StateEvent = "TRANSIENT_DISCONNECT"
	// StateBadCredentials: WhatsApp refused the session; the user must log in again.
	StateBadCredentials StateEvent = "BAD_CREDENTIALS"
	// StateLoggedOut: the session ended (logout, or the device was removed from the phone).
	StateLoggedOut StateEvent = "LOGGED_OUT"
	// StateDisconnected: the user disconnected on purpose.
	StateDisconnected StateEvent = "DISCONNECTED"
)

// BridgeState is a snapshot of a login's state.
type BridgeState struct {
	Event StateEvent
	// Since is when the login entered this state.
	Since time.Time
	// ConnectedSince is when the current connection came up (zero when not connected).
	ConnectedSince time.Time
	// Error is the last error seen, kept across state changes until the next successful connect.
	Error string
}

// stateTracker keeps one login's BridgeState. It is the single place the state lives in, so that
// commands, metrics and the provisioning API all read the same thing.
type stateTracker struct {
	state BridgeState
	lock  sync.Mutex
}

func (st *stateTracker) set(evt StateEvent, errText string) BridgeState {
	st.lock.Lock()
	defer st.lock.Unlock()
	now := time.Now()
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
	return st.state
}

func (st *stateTracker) get() BridgeState {
	st.lock.Lock()
	defer st.lock.Unlock()
	if st.state.Event == "" {
		return BridgeState{Event: StateUnconfigured}
	}
	return st.state
}

// States returns the state of every user the bridge has loaded, by Matrix user ID.
func (br *Bridge) States() map[string]BridgeState {
	br.usersLock.Lock()
	users := make([]*User, 0, len(br.users))
	for _, user := range br.users {
		users = append(users, user)
	}
	br.usersLock.Unlock()
	out := make(map[string]BridgeState, len(users))
	for _, user := range users {
		out[user.MXID.String()] = user.state.get()
	}
	return out
}
