package waits

import (
	"context"
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
	if none.Waited(Homeserver) != 0 {
		t.Error("a nil Meter has waited")
	}
}
