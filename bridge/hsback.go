package bridge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// Noticing that the homeserver is back.
//
// Work that waits for an unreachable homeserver (the WhatsApp inbox's rows, backfills, the bot's
// /sync) retries with backoff that grows to homeserverRetryMaxDelay (the bot's sync to a minute),
// so after a long outage each would find out only up to that long after the homeserver answers
// again. Instead, the first failure that got no answer from the homeserver (or a gateway's 502-504)
// starts one probe, which asks the homeserver for its versions (GET /_matrix/client/versions,
// unauthenticated) every homeserverProbeInterval; once it answers after having been seen down,
// every waiter is woken and tries at once.

// homeserverProbeInterval is how often the probe asks an unreachable homeserver whether it is back.
const homeserverProbeInterval = 2 * time.Second

// homeserverBack wakes the waiters of an outage when the homeserver answers again.
type homeserverBack struct {
	lock sync.Mutex
	// back is closed when the homeserver answered after a failure; a new one replaces it.
	back    chan struct{}
	probing bool
}

// wait returns a channel closed once the homeserver is seen answering after a failure noted from
// now on (or by the probe running now). Take it before the request whose failure makes you wait.
func (h *homeserverBack) wait() <-chan struct{} {
	h.lock.Lock()
	defer h.lock.Unlock()
	if h.back == nil {
		h.back = make(chan struct{})
	}
	return h.back
}

// startProbe reports whether a probe should start now (none runs); the caller then runs one.
func (h *homeserverBack) startProbe() bool {
	h.lock.Lock()
	defer h.lock.Unlock()
	if h.probing {
		return false
	}
	h.probing = true
	return true
}

// answered wakes the waiters and ends the probe.
func (h *homeserverBack) answered() {
	h.lock.Lock()
	defer h.lock.Unlock()
	if h.back != nil {
		close(h.back)
	}
	h.back = make(chan struct{})
	h.probing = false
}

// stopped ends the probe without waking anyone (the bridge stops, or the homeserver was not down).
func (h *homeserverBack) stopped() {
	h.lock.Lock()
	defer h.lock.Unlock()
	h.probing = false
}

// homeserverDown reports whether err is a homeserver request that got no answer at all, or a
// gateway's 502, 503 or 504 (a reverse proxy in front of a homeserver that is down). A 500 or a
// 429 is the homeserver answering: its own retry rules apply, and the probe would only see it up.
func homeserverDown(err error) bool {
	if !hserr.Unanswered(err) {
		return false
	}
	switch hserr.StatusCode(err) {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true // 0: no answer at all
	}
	return false
}

// probeUntilAnswered starts the probe that wakes the waiters once the homeserver answers again,
// unless one runs.
func (br *Bridge) probeUntilAnswered() {
	if br.ctx == nil || !br.hsBack.startProbe() {
		return
	}
	if !br.spawn(br.probeHomeserver) {
		br.hsBack.stopped()
	}
}

// probeHomeserver asks the homeserver for its versions every homeserverProbeInterval until it
// answers (any status below 500) or the bridge stops. Waiters are woken only when the probe saw
// the homeserver down first: when it answers at once, what failed was not the homeserver as a
// whole (one worker behind a proxy, a long poll cut by a proxy, an overloaded endpoint), and the
// waiters keep their backoff rather than retrying every probe interval.
func (br *Bridge) probeHomeserver() {
	ticker := time.NewTicker(homeserverProbeInterval)
	defer ticker.Stop()
	address := strings.TrimRight(br.Config.Homeserver.Address, "/")
	for sawDown := false; ; sawDown = true {
		select {
		case <-br.ctx.Done():
			br.hsBack.stopped()
			return
		case <-ticker.C:
		}
		if homeserverAnswers(br.ctx, br.AS.HTTPClient, address) {
			if !sawDown {
				br.hsBack.stopped()
				return
			}
			br.Log.Info().Msg("The homeserver answers again; retrying what waited for it")
			br.hsBack.answered()
			return
		}
	}
}

// homeserverAnswers reports whether GET address/_matrix/client/versions gets an answer below 500
// within healthCheckTimeout.
func homeserverAnswers(ctx context.Context, client *http.Client, address string) bool {
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, address+"/_matrix/client/versions", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode < http.StatusInternalServerError
}

// hsRetry paces a loop of requests to the homeserver that retries failures: 1 s after the first,
// doubling up to a minute, and at once when the homeserver answers again after being seen down.
type hsRetry struct {
	hsBack *homeserverBack
	// delay is the next wait; back is closed when the homeserver is back (taken by before).
	delay time.Duration
	back  <-chan struct{}
}

func newHSRetry(b *homeserverBack) *hsRetry { return &hsRetry{hsBack: b, delay: time.Second} }

// before is called before each request, so that a return of the homeserver after its failure
// ends the wait.
func (r *hsRetry) before() { r.back = r.hsBack.wait() }

// succeeded starts the next failure's wait at 1 s again.
func (r *hsRetry) succeeded() { r.delay = time.Second }

// wait waits before the next try; false when ctx ended first.
func (r *hsRetry) wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.back:
		r.delay = time.Second
	case <-time.After(r.delay):
		r.delay = min(2*r.delay, time.Minute)
	}
	return true
}
