package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// pushedState is a bridge state as the status endpoint receives it.
type pushedState struct {
	StateEvent    string    `json:"state_event"`
	Timestamp     int64     `json:"timestamp"`
	TTL           int       `json:"ttl"`
	Error         string    `json:"error"`
	Message       string    `json:"message"`
	UserAction    string    `json:"user_action"`
	UserID        id.UserID `json:"user_id"`
	RemoteID      string    `json:"remote_id"`
	RemoteProfile struct {
		Phone string `json:"phone"`
	} `json:"remote_profile"`
}

// stateReceiver is a status endpoint: it records what the bridge pushes, and refuses the first
// LOGGED_OUT push with 503 so that the bridge has to retry it.
type stateReceiver struct {
	*httptest.Server
	lock    sync.Mutex
	states  []pushedState
	auth    []string
	refused int
}

func newStateReceiver(t *testing.T) *stateReceiver {
	r := &stateReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var st pushedState
		err := json.NewDecoder(req.Body).Decode(&st)
		r.lock.Lock()
		defer r.lock.Unlock()
		if st.StateEvent == "LOGGED_OUT" && r.refused == 0 {
			r.refused++
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		if err != nil || req.Method != http.MethodPost {
			t.Errorf("status endpoint got %s with a body that is no bridge state: %v", req.Method, err)
		}
		r.states = append(r.states, st)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// waitState waits for a state of user after index from that matches, and returns its index.
func (r *stateReceiver) waitState(t *testing.T, ctx context.Context, user id.UserID, from int, what string, match func(pushedState) bool) (int, pushedState) {
	t.Helper()
	for {
		r.lock.Lock()
		for i := from; i < len(r.states); i++ {
			if r.states[i].UserID == user && match(r.states[i]) {
				st := r.states[i]
				r.lock.Unlock()
				return i, st
			}
		}
		seen := fmt.Sprint(r.states)
		r.lock.Unlock()
		select {
		case <-ctx.Done():
			t.Fatalf("status endpoint never got %s for %s; got %s", what, user, seen)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stateIs(event, errcode string) func(pushedState) bool {
	return func(st pushedState) bool { return st.StateEvent == event && st.Error == errcode }
}

// TestBridgeStatePush: every change of a login's state is pushed to homeserver.status_endpoint
// with the as_token (a refused push is retried): connecting and connected after login, a
// transient disconnect in an outage and connected again, bad credentials when WhatsApp refuses
// the client as outdated, logged out when the device is removed (pushed again after the endpoint
// refused it), each with its reason; the status
// command and the provisioning API show the same state.
func TestBridgeStatePush(t *testing.T) {
	t.Parallel()
	receiver := newStateReceiver(t)
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "homeserver.status_endpoint", receiver.URL+"/bridge_state")
		e2e.SetConfig(cfg, "provisioning.enabled", true)
		e2e.SetConfig(cfg, "provisioning.shared_secret", provisioningSecret)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	user := alice.client.UserID
	api := provisioningClient{t: t, base: env.BridgeURL(), secret: provisioningSecret, user: user}
	waitAppStateSynced(t, ctx, env, alice.client, alice.room)
	device := companionDevice(t, alice.acct)

	// shows checks that the status command and the provisioning API show state.
	shows := func(want pushedState) {
		t.Helper()
		line := "Bridge state: `" + want.StateEvent + "`"
		if want.Error != "" {
			line += " (`" + want.Error + "`: " + want.Message + ")"
		}
		expectStatus(t, ctx, env, alice, line)
		got := api.expect(ctx, http.MethodGet, "/status", nil, http.StatusOK, "")
		bs, _ := got["bridge_state"].(map[string]any)
		if bs["state_event"] != want.StateEvent || bs["message"] != nilIfEmpty(want.Message) || bs["user_id"] != string(user) {
			t.Errorf("provisioning bridge_state = %v, want %s %q", bs, want.StateEvent, want.Message)
		}
	}

	i, connected := receiver.waitState(t, ctx, user, 0, "CONNECTED with the account", func(st pushedState) bool {
		return st.StateEvent == "CONNECTED" && st.RemoteID != ""
	})
	if connected.RemoteID != "4915112345678" || connected.RemoteProfile.Phone != "+4915112345678" || connected.TTL <= 0 || connected.Timestamp == 0 {
		t.Errorf("connected state = %+v, want the account's number, a TTL and a timestamp", connected)
	}
	receiver.lock.Lock()
	if receiver.auth[0] != "Bearer "+env.ASToken() {
		t.Errorf("status endpoint got authorisation %q, want the as_token", receiver.auth[0])
	}
	receiver.lock.Unlock()
	shows(connected)

	// An outage: a transient disconnect with its reason, then connected again.
	env.WA.SetOutage(true)
	i, transient := receiver.waitState(t, ctx, user, i, "TRANSIENT_DISCONNECT", stateIs("TRANSIENT_DISCONNECT", "wa-transient-disconnect"))
	if transient.Message == "" || transient.RemoteID != "4915112345678" {
		t.Errorf("transient disconnect without a reason or account: %+v", transient)
	}
	// The state moves on during the outage (attempts, refused again), so status and API are
	// compared in the stable states only.
	env.WA.SetOutage(false)
	i, _ = receiver.waitState(t, ctx, user, i, "CONNECTING", stateIs("CONNECTING", ""))
	i, connected = receiver.waitState(t, ctx, user, i, "CONNECTED again", stateIs("CONNECTED", ""))
	shows(connected)

	// WhatsApp refuses the client as outdated until the user reconnects.
	if err := alice.acct.RefuseLogins(device, 405, 0); err != nil {
		t.Fatal(err)
	}
	if err := alice.acct.SendStreamError(device, "503"); err != nil {
		t.Fatal(err)
	}
	i, refused := receiver.waitState(t, ctx, user, i, "BAD_CREDENTIALS", stateIs("BAD_CREDENTIALS", "wa-refused"))
	if !strings.Contains(refused.Message, "outdated") || refused.UserAction == "" {
		t.Errorf("bad credentials state = %+v, want the outdated client as reason and a user action", refused)
	}
	shows(refused)
	alice.acct.ClearRefusals(device)
	sendText(t, ctx, alice.client, alice.room, "reconnect")
	i, _ = receiver.waitState(t, ctx, user, i, "CONNECTED after reconnect", stateIs("CONNECTED", ""))

	// The user closes the connection: a disconnect only the user can undo.
	sendText(t, ctx, alice.client, alice.room, "disconnect")
	i, closed := receiver.waitState(t, ctx, user, i, "the user's disconnect", stateIs("TRANSIENT_DISCONNECT", "wa-user-disconnected"))
	shows(closed)
	sendText(t, ctx, alice.client, alice.room, "reconnect")
	i, _ = receiver.waitState(t, ctx, user, i, "CONNECTED after reconnect", stateIs("CONNECTED", ""))

	// The device is removed on the phone.
	if err := alice.acct.RemoveDevice(ctx, device); err != nil {
		t.Fatal(err)
	}
	_, out := receiver.waitState(t, ctx, user, i, "LOGGED_OUT", stateIs("LOGGED_OUT", "wa-logged-out"))
	if out.UserAction != "RELOGIN" || !strings.Contains(out.Message, "removed") || out.RemoteID != "4915112345678" {
		t.Errorf("logged out state = %+v, want RELOGIN, the removal as reason and the account", out)
	}
	shows(out)
	receiver.lock.Lock()
	if receiver.refused != 1 {
		t.Errorf("the status endpoint refused %d pushes, want the LOGGED_OUT one (then retried)", receiver.refused)
	}
	receiver.lock.Unlock()

	// Changes only: no state is pushed twice in a row.
	receiver.lock.Lock()
	defer receiver.lock.Unlock()
	var prev pushedState
	for _, st := range receiver.states {
		if st.UserID == user && st.StateEvent == prev.StateEvent && st.Error == prev.Error && st.Message == prev.Message && st.RemoteID == prev.RemoteID {
			t.Errorf("state pushed twice in a row: %+v", st)
		}
		if st.UserID == user {
			prev = st
		}
	}
}

// nilIfEmpty is how a JSON field left out by omitempty decodes.
func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
