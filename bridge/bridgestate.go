package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/version"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Bridge state push: every change of a login's state is POSTed as JSON to
// homeserver.status_endpoint (when set), in the shape mautrix bridges send to Beeper-style status
// endpoints (mautrix-go bridgev2/status.BridgeState), authenticated with the appservice's as_token.
// The status command and the provisioning API's GET /status show the same object.

// Bridge state events, as mautrix-go's status package names them.
const (
	bsUnconfigured        = "UNCONFIGURED"
	bsConnecting          = "CONNECTING"
	bsConnected           = "CONNECTED"
	bsTransientDisconnect = "TRANSIENT_DISCONNECT"
	bsBadCredentials      = "BAD_CREDENTIALS"
	bsLoggedOut           = "LOGGED_OUT"
)

// Error codes of bridge states that are not fine, one per kind of trouble.
const (
	bsErrTransient        = "wa-transient-disconnect"
	bsErrRefused          = "wa-refused"
	bsErrLoggedOut        = "wa-logged-out"
	bsErrUserDisconnected = "wa-user-disconnected"
)

// TTLs of a pushed state in seconds: how long the receiver may trust it without a new push.
const (
	bsTTLOK    = 6 * 60 * 60
	bsTTLError = 60 * 60
)

// BridgeState is the state of one user's WhatsApp login as pushed to the status endpoint.
type BridgeState struct {
	// StateEvent is UNCONFIGURED, CONNECTING, CONNECTED, TRANSIENT_DISCONNECT, BAD_CREDENTIALS or
	// LOGGED_OUT. A connection the user closed with `disconnect` is TRANSIENT_DISCONNECT with the
	// error wa-user-disconnected.
	StateEvent string `json:"state_event"`
	// Timestamp is when the login entered the state, in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// TTL is how long (seconds) the state holds without a new push: 6 hours, 1 hour with an error.
	TTL    int    `json:"ttl"`
	Source string `json:"source"`
	// Error is a machine-readable code (wa-transient-disconnect, wa-refused, wa-logged-out,
	// wa-user-disconnected), Message the reason in words (the login's last error).
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// UserAction is RELOGIN when only a new login helps, RESTART when `reconnect` is needed.
	UserAction    string         `json:"user_action,omitempty"`
	UserID        id.UserID      `json:"user_id"`
	RemoteID      string         `json:"remote_id,omitempty"`
	RemoteName    string         `json:"remote_name,omitempty"`
	RemoteProfile *remoteProfile `json:"remote_profile,omitempty"`
	Version       string         `json:"version,omitempty"`
}

type remoteProfile struct {
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name,omitempty"`
}

// bridgeState describes user's login in state st, logged in as jid (empty: not logged in).
func (user *Account) bridgeState(st whatsapp.State, jid types.JID) BridgeState {
	bs := stateOf(st)
	bs.UserID = user.MXID
	if !jid.IsEmpty() {
		bs.RemoteID = jid.User
		bs.RemoteName = "+" + jid.User
		bs.RemoteProfile = &remoteProfile{Phone: "+" + jid.User, Name: user.OwnPushName()}
	}
	return bs
}

// stateOf is the part of a bridge state that follows from the login state alone.
func stateOf(st whatsapp.State) BridgeState {
	bs := BridgeState{Source: "bridge", TTL: bsTTLOK, Version: version.Get().Short()}
	if !st.Since.IsZero() {
		bs.Timestamp = st.Since.Unix()
	} else {
		bs.Timestamp = time.Now().Unix()
	}
	switch st.Event {
	case whatsapp.StateConnecting:
		bs.StateEvent = bsConnecting
	case whatsapp.StateConnected:
		bs.StateEvent = bsConnected
	case whatsapp.StateTransientDisconnect:
		bs.StateEvent, bs.Error = bsTransientDisconnect, bsErrTransient
	case whatsapp.StateBadCredentials:
		bs.StateEvent, bs.Error, bs.UserAction = bsBadCredentials, bsErrRefused, "RESTART"
	case whatsapp.StateLoggedOut:
		bs.StateEvent, bs.Error, bs.UserAction = bsLoggedOut, bsErrLoggedOut, "RELOGIN"
	case whatsapp.StateDisconnected:
		bs.StateEvent, bs.Error, bs.UserAction = bsTransientDisconnect, bsErrUserDisconnected, "RESTART"
		bs.Message = "disconnected with the disconnect command; send reconnect to connect again"
	default:
		bs.StateEvent = bsUnconfigured
	}
	if bs.Error != "" {
		bs.TTL = bsTTLError
		if bs.Message == "" {
			bs.Message = st.Error
		}
	}
	return bs
}

// BridgeState returns the user's current bridge state, as pushed to the status endpoint.
func (user *Account) BridgeState() BridgeState {
	return user.bridgeState(user.wa.State(), user.WAJID())
}

// lastState is what a pushed state says, for telling changes from repeats.
type lastState struct {
	event, errcode, message, account string
}

// queuedState is one state change waiting to be pushed.
type queuedState struct {
	user *Account
	st   whatsapp.State
	jid  types.JID
}

// statePusher POSTs bridge states to the status endpoint, one at a time in the order they
// happened. A push that fails is retried with backoff (1 s doubling to 1 min) until it succeeds
// or a newer state of the same user replaces it.
type statePusher struct {
	url, token string
	client     *http.Client
	log        zerolog.Logger

	lock  sync.Mutex
	queue []queuedState
	// last is the last state queued per user, to push changes only.
	last map[*Account]lastState
	wake chan struct{}
}

func newStatePusher(url, token string, log zerolog.Logger) *statePusher {
	return &statePusher{
		url: url, token: token, log: log,
		client: &http.Client{Timeout: 30 * time.Second},
		last:   make(map[*Account]lastState),
		wake:   make(chan struct{}, 1),
	}
}

// stateChanged queues the user's new login state unless it says the same as the last one queued
// (whatsapp.Options.StateChanged reports confirmations too). It does not block and calls nothing
// of the login: the user's push name is read when the state is sent.
func (p *statePusher) stateChanged(user *Account, st whatsapp.State) {
	bs, jid := stateOf(st), user.WAJID()
	now := lastState{event: bs.StateEvent, errcode: bs.Error, message: bs.Message, account: jid.User}
	p.lock.Lock()
	if last, ok := p.last[user]; ok && last == now {
		p.lock.Unlock()
		return
	}
	p.last[user] = now
	p.queue = append(p.queue, queuedState{user: user, st: st, jid: jid})
	p.lock.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// next returns the oldest queued state without removing it.
func (p *statePusher) next() (queuedState, bool) {
	p.lock.Lock()
	defer p.lock.Unlock()
	if len(p.queue) == 0 {
		return queuedState{}, false
	}
	return p.queue[0], true
}

// done removes the oldest queued state.
func (p *statePusher) done() {
	p.lock.Lock()
	p.queue = p.queue[1:]
	p.lock.Unlock()
}

// superseded reports whether a newer state of q's user is queued behind it.
func (p *statePusher) superseded(q queuedState) bool {
	p.lock.Lock()
	defer p.lock.Unlock()
	for _, later := range p.queue[1:] {
		if later.user == q.user {
			return true
		}
	}
	return false
}

// run pushes queued states until ctx ends.
func (p *statePusher) run(ctx context.Context) {
	delay := time.Duration(0)
	for {
		q, ok := p.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		bs := q.user.bridgeState(q.st, q.jid)
		log := p.log.With().Stringer("user_mxid", bs.UserID).Str("state_event", bs.StateEvent).Logger()
		err := p.send(ctx, bs)
		switch {
		case err == nil:
			log.Debug().Str("error_code", bs.Error).Msg("Pushed bridge state")
			p.done()
			delay = 0
		case ctx.Err() != nil:
			return
		case p.superseded(q):
			log.Warn().Err(err).Msg("Failed to push bridge state; a newer one replaces it")
			p.done()
		default:
			delay = min(max(2*delay, time.Second), time.Minute)
			log.Warn().Err(err).Stringer("retry_in", delay).Msg("Failed to push bridge state, retrying")
		}
	}
}

// send POSTs one state. The token is never logged.
func (p *statePusher) send(ctx context.Context, bs BridgeState) error {
	body, err := json.Marshal(bs)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "matrix-whatsapp/"+version.Get().Short()+" (bridge state)")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("status endpoint answered %s: %s", resp.Status, bytes.TrimSpace(snippet))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return nil
}
