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

// How long retryTransient retries a history backfill while the homeserver is unreachable, and the
// longest wait between two attempts (also the cap of the WhatsApp inbox's backoff, which retries
// for as long as it takes).
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
// down, overloaded or rate limiting, or the request reached something other than the homeserver.
func isTransient(err error) bool {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		if httpErr.Response == nil {
			return true
		}
		code := httpErr.Response.StatusCode
		return code >= http.StatusInternalServerError || code == http.StatusTooManyRequests || misrouted(httpErr)
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// jittered spreads d by ±25%, so that retries that started together do not stay in lockstep.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// misrouted reports whether a homeserver API request was answered by something that does not
// serve the client-server API: a 404 or 405 with the errcode M_UNRECOGNIZED (the spec's answer
// for an unknown endpoint; every endpoint the bridge calls exists on a homeserver) or without a
// Matrix error body at all (a reverse proxy whose homeserver is restarting, another service that
// took the homeserver's port). It says nothing about the request itself: retried, never given up.
func misrouted(httpErr mautrix.HTTPError) bool {
	if httpErr.Response == nil {
		return false
	}
	if code := httpErr.Response.StatusCode; code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		return false
	}
	return httpErr.RespError == nil || httpErr.RespError.ErrCode == "" || httpErr.RespError.ErrCode == mautrix.MUnrecognized.ErrCode
}
