package waits

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestTransportCountsRequestsOfTrackedWork: a request made with a tracked context adds its time
// to the homeserver wait of that work only; one without a Meter changes nothing.
func TestTransportCountsRequestsOfTrackedWork(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	client := &http.Client{Transport: Transport(nil)}
	get := func(ctx context.Context) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	ctx, meter := Track(context.Background())
	other, otherMeter := Track(context.Background())
	get(ctx)
	get(ctx)
	get(context.Background())
	if got := meter.Waited(Homeserver); got < 60*time.Millisecond || got > 5*time.Second {
		t.Errorf("two 30 ms requests waited %v for the homeserver, want at least 60 ms", got)
	}
	if got := meter.Waited(WhatsApp); got != 0 {
		t.Errorf("homeserver requests counted %v as waiting for WhatsApp", got)
	}
	if got := otherMeter.Waited(Homeserver); got != 0 {
		t.Errorf("work that made no request waited %v", got)
	}
	Add(other, WhatsApp, 7*time.Millisecond)
	Add(context.Background(), WhatsApp, time.Hour) // no Meter: nothing to add to
	if got := otherMeter.Waited(WhatsApp); got != 7*time.Millisecond {
		t.Errorf("Add(7ms) gave %v", got)
	}
	var none *Meter
	if none.Waited(Homeserver) != 0 || none.Disturbed() {
		t.Error("a nil Meter has waited or was disturbed")
	}
	if meter.Disturbed() {
		t.Error("requests answered 200 disturbed the work")
	}
}

// TestTransportBodiesAndRefusals: reading a slow response body counts as waiting for the
// homeserver, and a request answered 429 or 5xx (which mautrix retries inside the call) or failing
// disturbs the work, while a 404 does not.
func TestTransportBodiesAndRefusals(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-body":
			w.(http.Flusher).Flush()
			time.Sleep(40 * time.Millisecond)
			_, _ = w.Write([]byte("media"))
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/down":
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: Transport(nil)}
	get := func(path string) *Meter {
		ctx, meter := Track(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return meter
	}
	if m := get("/slow-body"); m.Waited(Homeserver) < 40*time.Millisecond || m.Disturbed() {
		t.Errorf("slow body: waited %v, disturbed %v; want at least the 40 ms of the body, undisturbed", m.Waited(Homeserver), m.Disturbed())
	}
	for path, want := range map[string][2]bool{"/busy": {true, false}, "/down": {true, true}, "/missing": {false, false}} {
		m := get(path)
		if got := [2]bool{m.Disturbed(), m.Unanswered()}; got != want {
			t.Errorf("%s: disturbed, unanswered = %v, want %v", path, got, want)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	ctx, meter := Track(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, closed.URL, nil)
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a request to a closed server succeeded")
	}
	if !meter.Disturbed() || meter.Unanswered() {
		t.Errorf("a refused connection: disturbed %v, unanswered %v; want disturbed, not unanswered (nothing was sent)", meter.Disturbed(), meter.Unanswered())
	}
}

// TestTransportConnectionCutMidRequest: a request whose connection the server drops before
// answering (a homeserver killed while storing it) leaves the work unanswered, even when a later
// attempt is refused at dialling (the homeserver is down by then), which is all the caller's
// final error shows.
func TestTransportConnectionCutMidRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	client := &http.Client{Transport: Transport(nil)}
	ctx, meter := Track(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/send", nil)
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a request whose connection was cut succeeded")
	}
	srv.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/send", nil)
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a request to a stopped server succeeded")
	}
	if !meter.Unanswered() {
		t.Error("a request cut off mid-way did not leave the work unanswered")
	}
}
