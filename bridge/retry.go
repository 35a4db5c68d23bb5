package bridge

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// How long retryTransient retries a history backfill while the homeserver is unreachable, and the
// longest wait between two attempts (also the cap of the WhatsApp inbox's backoff, which retries
// for as long as it takes).
const (
	homeserverRetryLimit    = 10 * time.Minute
	homeserverRetryMaxDelay = 30 * time.Second
)

// retryTransient runs fn until it succeeds, fails for a reason retrying cannot fix, ctx ends, or
// homeserverRetryLimit passes. A homeserver that answers again after an outage cuts the wait short
// (hsback.go).
func (br *Bridge) retryTransient(ctx context.Context, what string, fn func() error) error {
	deadline := time.Now().Add(homeserverRetryLimit)
	delay := time.Second
	for attempt := 1; ; attempt++ {
		back := br.hsBack.wait()
		err := fn()
		if err == nil || !hserr.Transient(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		br.noteHomeserverFailure(err) // late_events.go
		zerolog.Ctx(ctx).Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Msg("Failed to " + what + ", retrying")
		select {
		case <-ctx.Done():
			return err
		case <-back:
			delay = time.Second
			continue
		case <-time.After(jittered(delay)):
		}
		delay = min(delay*2, homeserverRetryMaxDelay)
	}
}

// jittered spreads d by ±25%, so that retries that started together do not stay in lockstep.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
