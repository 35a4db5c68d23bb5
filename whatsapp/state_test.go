package whatsapp

import (
	"testing"
	"time"
)

func TestStateTrackerTransitions(t *testing.T) {
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := stateTracker{now: func() time.Time { return clock }}
	tick := func() time.Time { clock = clock.Add(time.Minute); return clock }

	if got := st.get(); got.Event != StateUnconfigured || !got.Since.IsZero() {
		t.Fatalf("new tracker: %+v, want UNCONFIGURED with no since-time", got)
	}
	steps := []struct {
		name      string
		evt       StateEvent
		errText   string
		advance   bool
		wantSince bool // Since moves to the current time
		wantConn  bool // ConnectedSince is the current time
		wantErr   string
	}{
		{"connecting", StateConnecting, "", true, true, false, ""},
		{"connect failed", StateTransientDisconnect, "dial refused", true, true, false, "dial refused"},
		{"same state again keeps since", StateTransientDisconnect, "", true, false, false, "dial refused"},
		{"connecting keeps the last error", StateConnecting, "", true, true, false, "dial refused"},
		{"connected clears the error", StateConnected, "", true, true, true, ""},
		{"connected again keeps connected-since", StateConnected, "", true, false, false, ""},
		{"lost", StateTransientDisconnect, "connection lost", true, true, false, "connection lost"},
		{"logged out", StateLoggedOut, "removed from phone", true, true, false, "removed from phone"},
	}
	var connectedAt time.Time
	for _, step := range steps {
		before := st.get()
		now := clock
		if step.advance {
			now = tick()
		}
		got := st.set(step.evt, step.errText)
		if got != st.get() {
			t.Errorf("%s: set returned %+v, get %+v", step.name, got, st.get())
		}
		if got.Event != step.evt {
			t.Errorf("%s: event %s, want %s", step.name, got.Event, step.evt)
		}
		if wantSince := map[bool]time.Time{true: now, false: before.Since}[step.wantSince]; !got.Since.Equal(wantSince) {
			t.Errorf("%s: since %s, want %s", step.name, got.Since, wantSince)
		}
		switch {
		case step.wantConn:
			connectedAt = now
			fallthrough
		case step.evt == StateConnected:
			if !got.ConnectedSince.Equal(connectedAt) {
				t.Errorf("%s: connected since %s, want %s", step.name, got.ConnectedSince, connectedAt)
			}
		default:
			if !got.ConnectedSince.IsZero() {
				t.Errorf("%s: connected since %s while not connected", step.name, got.ConnectedSince)
			}
		}
		if got.Error != step.wantErr {
			t.Errorf("%s: error %q, want %q", step.name, got.Error, step.wantErr)
		}
	}
}
