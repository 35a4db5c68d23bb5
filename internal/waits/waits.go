// Package waits adds up how long one piece of the bridge's work (bridging one message) waited
// for the homeserver and for WhatsApp, so that the time the bridge itself held the message can be
// told apart from the time the other sides took (metrics.Metrics.Handled).
//
// Track puts a Meter into a context; everything that waits for another side with that context
// (the appservice's HTTP client through Transport, the portals' WhatsApp client through the
// metrics package's wrapper) adds its wait with Add. Without a Meter in the context, Add does
// nothing. A Meter is safe for concurrent use.
package waits

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Side is what a piece of work waited for.
type Side int

// The sides a message waits for.
const (
	// Homeserver: a request to the homeserver, from sending it to its response's headers.
	Homeserver Side = iota
	// WhatsApp: a call of whatsmeow that talks to WhatsApp (sending a message, uploading or
	// downloading media), whole, including whatsmeow's own work in it (encryption, its store).
	WhatsApp
	sides
)

// Meter holds the waits of one piece of work, in nanoseconds per Side, and whether a request of
// it failed or was refused for now (and so may have been retried inside the call, with a pause
// that no Side counts).
type Meter struct {
	ns         [sides]atomic.Int64
	disturbed  atomic.Bool
	unanswered atomic.Bool
}

type meterKey struct{}

// Track returns a context that carries a new Meter, and the Meter.
func Track(ctx context.Context) (context.Context, *Meter) {
	m := &Meter{}
	return context.WithValue(ctx, meterKey{}, m), m
}

// Add adds d to the wait for side of the Meter in ctx, if there is one.
func Add(ctx context.Context, side Side, d time.Duration) {
	if m, ok := ctx.Value(meterKey{}).(*Meter); ok && side >= 0 && side < sides {
		m.ns[side].Add(int64(d))
	}
}

// Since adds the time since start to the wait for side of the Meter in ctx (for defer).
func Since(ctx context.Context, side Side, start time.Time) {
	Add(ctx, side, time.Since(start))
}

// Disturbed reports whether a request of the work failed or was refused for now (a network error,
// 429 or 5xx): its client may have paused and retried inside one call, so the work's time is not
// its usual handling time. False for a nil Meter.
func (m *Meter) Disturbed() bool {
	return m != nil && m.disturbed.Load()
}

// Unanswered reports whether a homeserver request of the work may have been carried out without
// the bridge learning so: it failed after its connection was made (not a refused dial) or was
// answered 5xx. mautrix retries such a request inside one call, so the call's final error (often
// "connection refused" once the homeserver is down) does not tell that an earlier attempt may have
// been stored. False for a nil Meter.
func (m *Meter) Unanswered() bool {
	return m != nil && m.unanswered.Load()
}

// Waited returns how long the work waited for side so far; 0 for a nil Meter.
func (m *Meter) Waited(side Side) time.Duration {
	if m == nil || side < 0 || side >= sides {
		return 0
	}
	return time.Duration(m.ns[side].Load())
}

// Transport wraps inner (http.DefaultTransport when nil) so that each request's time until its
// response's headers arrived (or it failed), and then the time spent reading its body, is added to
// the Homeserver wait of the Meter in the request's context. A request that failed or was answered
// 429 or 5xx disturbs the Meter (mautrix retries those inside one call, after a pause).
func Transport(inner http.RoundTripper) http.RoundTripper {
	if inner == nil {
		inner = http.DefaultTransport
	}
	return transport{inner: inner}
}

type transport struct {
	inner http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	m, ok := ctx.Value(meterKey{}).(*Meter)
	if !ok {
		return t.inner.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.inner.RoundTrip(req)
	m.ns[Homeserver].Add(int64(time.Since(start)))
	if err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		m.disturbed.Store(true)
	}
	var opErr *net.OpError
	if (err != nil && !(errors.As(err, &opErr) && opErr.Op == "dial")) || (err == nil && resp.StatusCode >= 500) {
		m.unanswered.Store(true)
	}
	if resp != nil && resp.Body != nil {
		resp.Body = timedBody{ReadCloser: resp.Body, m: m}
	}
	return resp, err
}

// timedBody adds the time its reads take to the Homeserver wait of m.
type timedBody struct {
	io.ReadCloser
	m *Meter
}

// Read implements io.Reader.
func (b timedBody) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := b.ReadCloser.Read(p)
	b.m.ns[Homeserver].Add(int64(time.Since(start)))
	return n, err
}
