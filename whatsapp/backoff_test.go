package whatsapp

import (
	"testing"
	"time"
)

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{minReconnectDelay, 7 * time.Second, maxReconnectDelay} {
		lo, hi := time.Duration(float64(d)*0.75), time.Duration(float64(d)*1.25)
		for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
			if got := jitter(d, r); got < lo || got > hi {
				t.Errorf("jitter(%s, %v) = %s, want within [%s, %s]", d, r, got, lo, hi)
			}
		}
		if got := jitter(d, 0); got != lo {
			t.Errorf("jitter(%s, 0) = %s, want the lower bound %s", d, got, lo)
		}
		if got := jitter(d, 0.5); got != d {
			t.Errorf("jitter(%s, 0.5) = %s, want %s", d, got, d)
		}
	}
}

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	b := backoff{rand: func() float64 { return 0.5 }} // no spread: the base delays themselves
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 120, 120}
	for i, w := range want {
		if got := b.next(); got != w*time.Second {
			t.Errorf("attempt %d: delay %s, want %s", i+1, got, w*time.Second)
		}
	}
	b.reset()
	if got := b.next(); got != minReconnectDelay {
		t.Errorf("after reset: delay %s, want %s", got, minReconnectDelay)
	}
}

func TestBackoffRandomDelaysStayInBounds(t *testing.T) {
	var b backoff
	base := minReconnectDelay
	for i := 0; i < 200; i++ {
		got := b.next()
		if lo, hi := time.Duration(float64(base)*0.75), time.Duration(float64(base)*1.25); got < lo || got > hi {
			t.Fatalf("attempt %d: delay %s outside [%s, %s]", i+1, got, lo, hi)
		}
		base = min(base*2, maxReconnectDelay)
	}
}
