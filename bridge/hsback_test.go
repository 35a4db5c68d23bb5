package bridge

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestHomeserverBackWakesWaiters: a request that got no answer starts one probe; what waits for
// the homeserver is not woken while it stays down (here: 503 from a gateway), and is woken once it
// answers, without waiting out its backoff. A rate limit or a 500 starts no probe (the homeserver
// answered), and a probe that finds the homeserver answering at once wakes nobody.
func TestHomeserverBackWakesWaiters(t *testing.T) {
	var up atomic.Bool
	var probes atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/client/versions" {
			t.Errorf("probe asked for %s", r.URL.Path)
		}
		probes.Add(1)
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"versions":["v1.11"]}`))
	}))
	defer hs.Close()
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	br.Config.Homeserver.Address = hs.URL
	defer br.cancel()

	for _, answered := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		br.noteHomeserverFailure(mautrix.HTTPError{Response: &http.Response{StatusCode: answered}})
		if br.hsBack.probing {
			t.Fatalf("a %d started a probe", answered)
		}
	}

	waiter := br.hsBack.wait()
	refused := mautrix.HTTPError{WrappedError: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	br.noteHomeserverFailure(refused)
	br.noteHomeserverFailure(refused) // a second failure while probing starts no second probe
	deadline := time.Now().Add(time.Minute)
	for probes.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the homeserver was not probed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-waiter:
		t.Fatal("waiters woken while the homeserver is still down")
	default:
	}
	up.Store(true)
	select {
	case <-waiter:
	case <-time.After(time.Minute):
		t.Fatal("waiters not woken after the homeserver answered again")
	}
	seen := probes.Load()
	time.Sleep(3 * homeserverProbeInterval / 2)
	if probes.Load() != seen {
		t.Error("still probing after the homeserver answered")
	}
	if next := br.hsBack.wait(); next == waiter {
		t.Error("a waiter of the next outage gets the channel that is already closed")
	}

	// A failure while the homeserver answers the probe at once (a worker behind a proxy down, say)
	// wakes nobody: the waiters keep their backoff.
	waiter = br.hsBack.wait()
	seen = probes.Load()
	br.noteHomeserverFailure(mautrix.HTTPError{Response: &http.Response{StatusCode: http.StatusBadGateway}})
	for probes.Load() == seen {
		if time.Now().After(deadline) {
			t.Fatal("a 502 did not start a probe")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(homeserverProbeInterval / 2)
	select {
	case <-waiter:
		t.Error("waiters woken although the probe never saw the homeserver down")
	default:
	}
	br.hsBack.lock.Lock()
	probing := br.hsBack.probing
	br.hsBack.lock.Unlock()
	if probing {
		t.Error("still probing a homeserver that answered")
	}
}
