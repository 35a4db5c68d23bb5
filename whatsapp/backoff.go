package whatsapp

import (
	"math/rand/v2"
	"time"
)

// Reconnect backoff: the first retry comes after minReconnectDelay, each later one waits twice as
// long up to maxReconnectDelay, and every delay is spread by ±25% so that many logins that lost the
// connection at once (a WhatsApp outage) do not come back in lockstep.
const (
	minReconnectDelay = 1 * time.Second
	maxReconnectDelay = 2 * time.Minute
	// reconnectJitter is the fraction by which a delay is spread either way.
	reconnectJitter = 0.25
)

// backoff yields the delays between connection attempts. The zero value starts at
// minReconnectDelay.
type backoff struct {
	delay time.Duration
	// rand returns a number in [0, 1); rand.Float64 unless a test replaces it.
	rand func() float64
}

// next returns the delay before the next attempt (jittered) and doubles the base delay for the one
// after, up to maxReconnectDelay.
func (b *backoff) next() time.Duration {
	if b.delay == 0 {
		b.delay = minReconnectDelay
	}
	r := rand.Float64
	if b.rand != nil {
		r = b.rand
	}
	wait := jitter(b.delay, r())
	b.delay = min(b.delay*2, maxReconnectDelay)
	return wait
}

// reset makes the next delay minReconnectDelay again ("reconnect now").
func (b *backoff) reset() {
	b.delay = minReconnectDelay
}

// jitter spreads d by ±reconnectJitter; r in [0, 1) picks the point in that range.
func jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 - reconnectJitter + 2*reconnectJitter*r))
}
