package bridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
)

// How long a WhatsApp message is retried while the homeserver is unreachable. Messages of the same
// WhatsApp connection wait behind it meanwhile, which keeps their order; after the limit the message
// is left unacknowledged, and WhatsApp delivers it again on the next connect.
const (
	homeserverRetryLimit    = 10 * time.Minute
	homeserverRetryMaxDelay = 30 * time.Second
)

// retryTransient runs fn until it succeeds, fails for a reason retrying cannot fix, ctx ends, or
// homeserverRetryLimit passes.
func retryTransient(ctx context.Context, what string, fn func() error) error {
	deadline := time.Now().Add(homeserverRetryLimit)
	delay := time.Second
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !isTransient(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		zerolog.Ctx(ctx).Warn().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Msg("Failed to " + what + ", retrying")
		select {
		case <-ctx.Done():
			return err
		case <-time.After(jittered(delay)):
		}
		delay = min(delay*2, homeserverRetryMaxDelay)
	}
}

// isTransient reports whether an error may go away by itself: the homeserver (or the network) is
// down, overloaded or rate limiting.
func isTransient(err error) bool {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		if httpErr.Response == nil {
			return true
		}
		code := httpErr.Response.StatusCode
		return code >= http.StatusInternalServerError || code == http.StatusTooManyRequests
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// jittered spreads d by ±25%, so that retries that started together do not stay in lockstep.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
