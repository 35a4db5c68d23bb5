package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Ceiling is what the homeserver alone achieves when a Matrix user sends messages that an
// appservice receives: the upper bound for anything the bridge does in that direction.
type Ceiling struct {
	// Messages is how many messages were sent.
	Messages int
	// PerSecond is messages delivered to the appservice per second, from the first send to the
	// last delivery.
	PerSecond float64
	// MeanLatency is the mean time from the start of a client's send to the appservice receiving it.
	MeanLatency time.Duration
}

// String formats the figures for a test or benchmark log.
func (c Ceiling) String() string {
	return fmt.Sprintf("%d messages, %.1f msg/s, mean client->appservice latency %s",
		c.Messages, c.PerSecond, c.MeanLatency.Round(100*time.Microsecond))
}

// MeasureCeiling starts a fresh Dendrite with a minimal appservice (an in-process HTTP server that
// only records arrival times), sends n messages from one user in one room, one after another as a
// client would, and measures how fast they reach the appservice. Benchmarks of the bridge call it in
// the same run, so that their figures can be read against what the homeserver allows on this machine.
// Given a *testing.B, it times only the sending and delivery (setup excluded).
func MeasureCeiling(t testing.TB, n int) Ceiling {
	t.Helper()
	SkipInShortMode(t)
	probe := newProbeAppservice()
	server := httptest.NewServer(probe)
	defer server.Close()
	regPath := filepath.Join(t.TempDir(), "probe-registration.yaml")
	registration := map[string]any{
		"id":               "ceiling-probe",
		"url":              server.URL,
		"as_token":         randomHex(16),
		"hs_token":         probe.hsToken,
		"sender_localpart": "probebot",
		"rate_limited":     false,
		"namespaces": map[string]any{
			"users": []map[string]any{{"exclusive": true, "regex": "@probe_.*:" + Domain}},
		},
	}
	if err := writeYAML(regPath, registration); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	env := New(t, Options{NoBridge: true, DendriteConfig: func(cfg map[string]any) {
		SetConfig(cfg, "app_service_api.config_files", []string{regPath})
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sender := env.NewUser(t, "ceiling")
	room, err := sender.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatalf("e2e: failed to create the ceiling room: %v", err)
	}
	bot, err := mautrix.NewClient(env.HomeserverURL(), id.NewUserID("probebot", Domain), registration["as_token"].(string))
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	bot.SetAppServiceUserID = true
	if _, err = bot.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("e2e: the probe appservice failed to join: %v", err)
	}

	b, isBenchmark := t.(*testing.B)
	if isBenchmark {
		b.ResetTimer()
	}
	sent := make([]time.Time, n)
	start := time.Now()
	for i := range n {
		sent[i] = time.Now()
		if _, err = sender.SendText(ctx, room.RoomID, "ceiling "+strconv.Itoa(i)); err != nil {
			t.Fatalf("e2e: failed to send message %d: %v", i, err)
		}
	}
	arrived, err := probe.waitAll(ctx, n)
	if isBenchmark {
		b.StopTimer()
	}
	if err != nil {
		t.Fatalf("e2e: the probe appservice received %d of %d messages: %v", len(arrived), n, err)
	}
	var last time.Time
	var total time.Duration
	for i, at := range arrived {
		total += at.Sub(sent[i])
		if at.After(last) {
			last = at
		}
	}
	return Ceiling{
		Messages:    n,
		PerSecond:   float64(n) / last.Sub(start).Seconds(),
		MeanLatency: total / time.Duration(n),
	}
}

// probeAppservice records when each "ceiling N" message arrives.
type probeAppservice struct {
	hsToken string

	arrivedLock sync.Mutex
	arrived     map[int]time.Time
	changed     chan struct{}
}

func newProbeAppservice() *probeAppservice {
	return &probeAppservice{hsToken: randomHex(16), arrived: map[int]time.Time{}, changed: make(chan struct{}, 1)}
}

// ServeHTTP accepts every transaction (and answers every other appservice request with 200).
func (p *probeAppservice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var txn struct {
		Events []*event.Event `json:"events"`
	}
	if r.Method == http.MethodPut && json.NewDecoder(r.Body).Decode(&txn) == nil {
		p.arrivedLock.Lock()
		for _, evt := range txn.Events {
			body, _ := evt.Content.Raw["body"].(string)
			var i int
			if _, err := fmt.Sscanf(body, "ceiling %d", &i); err == nil {
				if _, seen := p.arrived[i]; !seen {
					p.arrived[i] = now
				}
			}
		}
		p.arrivedLock.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// waitAll waits until messages 0..n-1 have arrived and returns their arrival times in order.
func (p *probeAppservice) waitAll(ctx context.Context, n int) ([]time.Time, error) {
	for {
		p.arrivedLock.Lock()
		count := len(p.arrived)
		var times []time.Time
		if count >= n {
			times = make([]time.Time, n)
			for i := range n {
				times[i] = p.arrived[i]
			}
		}
		p.arrivedLock.Unlock()
		if times != nil {
			return times, nil
		}
		select {
		case <-ctx.Done():
			return make([]time.Time, count), ctx.Err()
		case <-p.changed:
		}
	}
}
