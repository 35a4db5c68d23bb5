package bridge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// TestStatePusher: repeats are not pushed, pushes keep their order, a refused push is retried,
// and a refused push is dropped once a newer state of the same user waits behind it.
func TestStatePusher(t *testing.T) {
	var lock sync.Mutex
	var got []string
	refuse := map[string]int{"TRANSIENT_DISCONNECT": 1, "CONNECTING": 100}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var bs BridgeState
		_ = json.NewDecoder(r.Body).Decode(&bs)
		lock.Lock()
		defer lock.Unlock()
		if r.Header.Get("Authorization") != "Bearer as-token" {
			t.Errorf("authorization %q", r.Header.Get("Authorization"))
		}
		if refuse[bs.StateEvent] > 0 {
			refuse[bs.StateEvent]--
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		got = append(got, bs.StateEvent+"/"+bs.Error+"/"+bs.RemoteID)
	}))
	defer srv.Close()
	p := newStatePusher(srv.URL, "as-token", zerolog.Nop())
	user := &Account{User: &User{MXID: "@alice:example.org"}, loginRow: &database.UserLogin{Phone: "4915112345678", WAJID: types.NewJID("4915112345678", types.DefaultUserServer)}}
	user.wa = whatsapp.NewLogin(whatsapp.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	p.stateChanged(user, whatsapp.State{Event: whatsapp.StateConnected})
	p.stateChanged(user, whatsapp.State{Event: whatsapp.StateConnected}) // a confirmation
	p.stateChanged(user, whatsapp.State{Event: whatsapp.StateTransientDisconnect, Error: "connection lost"})
	waitPushed := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			lock.Lock()
			l := len(got)
			lock.Unlock()
			if l >= n || time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPushed(2)
	// CONNECTING is refused for good; the LOGGED_OUT behind it replaces it.
	p.stateChanged(user, whatsapp.State{Event: whatsapp.StateConnecting})
	p.stateChanged(user, whatsapp.State{Event: whatsapp.StateLoggedOut, Error: "removed"})
	waitPushed(3)
	lock.Lock()
	defer lock.Unlock()
	want := []string{"CONNECTED//4915112345678", "TRANSIENT_DISCONNECT/wa-transient-disconnect/4915112345678", "LOGGED_OUT/wa-logged-out/4915112345678"}
	if len(got) != len(want) {
		t.Fatalf("pushed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pushed %v, want %v", got, want)
		}
	}
}
