package whatsapp

import (
	"testing"

	"github.com/rs/zerolog"
)

// TestStateChangedHook sees every update with the state before and after, repeats included.
func TestStateChangedHook(t *testing.T) {
	type change struct{ prev, next StateEvent }
	var got []change
	l := NewLogin(Options{Log: zerolog.Nop(), StateChanged: func(prev, next State) {
		got = append(got, change{prev.Event, next.Event})
	}})
	l.state.set(StateConnecting, "")
	l.state.set(StateConnected, "")
	l.state.set(StateConnected, "")
	l.state.set(StateTransientDisconnect, "connection lost")
	want := []change{
		{StateUnconfigured, StateConnecting},
		{StateConnecting, StateConnected},
		{StateConnected, StateConnected},
		{StateConnected, StateTransientDisconnect},
	}
	if len(got) != len(want) {
		t.Fatalf("hook saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("update %d: %v, want %v", i, got[i], want[i])
		}
	}
}
