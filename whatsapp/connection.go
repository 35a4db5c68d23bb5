package whatsapp

import (
	"context"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// keepAliveFailures is how many keepalives in a row may go unanswered before the connection is
// considered dead (a silent, half-open connection) and made again.
const keepAliveFailures = 3

// retryState is a login's memory across connection attempts: the backoff, whether the last attempt
// failed to come up, the alerts already shown and the generation of a scheduled retry. It lives as
// long as the login, so that a connection WhatsApp refuses again and again (503, a silent socket)
// is retried ever more slowly even though each refusal starts a new connect loop.
type retryState struct {
	lock    sync.Mutex
	delays  backoff
	failing bool // an attempt was made and has not reached Connected
	alerted map[AlertKind]bool
	gen     uint64
}

// beforeAttempt returns how long to wait before the next attempt: nothing after a connection that
// came up (or the first attempt), else the next backoff delay.
func (r *retryState) beforeAttempt() time.Duration {
	r.lock.Lock()
	defer r.lock.Unlock()
	var wait time.Duration
	if r.failing {
		wait = r.delays.next()
	}
	r.failing = true
	return wait
}

// connected forgets the failures and the alerts shown: the next problem starts afresh.
func (r *retryState) connected() {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.failing = false
	r.delays.reset()
	clear(r.alerted)
}

// up reports whether the connection came up since the last attempt started.
func (r *retryState) up() bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	return !r.failing
}

// now makes the next attempt go at once (the user asked, or a ban ended) and cancels a scheduled
// retry.
func (r *retryState) now() {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.failing = false
	r.delays.reset()
	r.gen++
}

// firstAlert reports whether an alert of this kind was not shown since the last connection.
func (r *retryState) firstAlert(kind AlertKind) bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	if r.alerted == nil {
		r.alerted = make(map[AlertKind]bool)
	}
	if r.alerted[kind] {
		return false
	}
	r.alerted[kind] = true
	return true
}

// schedule starts a new retry generation and returns it; current tells whether it still stands.
func (r *retryState) schedule() uint64 {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.gen++
	return r.gen
}

func (r *retryState) current(gen uint64) bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	return r.gen == gen
}

// onConnected marks the login connected, wakes those waiting for it and tells the handler.
func (l *Login) onConnected(ctx context.Context) {
	l.log.Info().Msg("Connected to WhatsApp")
	l.retry.connected()
	l.state.set(StateConnected, "")
	l.contacts.reset()
	l.signalConnected()
	l.opts.Handler.Connected(ctx)
}

// onConnectionProblem applies decide's verdict on a connection event: the state, the alert (once
// per kind until the connection is up again) and the reconnect policy.
func (l *Login) onConnectionProblem(ctx context.Context, cli *whatsmeow.Client, rawEvt any) {
	d, ok := decide(rawEvt, time.Now())
	if !ok || (d.Retry == RetryBackoff && l.JID().IsEmpty()) {
		// Before pairing finished there is nothing to reconnect: the pairing flow sees the
		// disconnect through its QR channel.
		return
	}
	if d.Retry == RetryEnded {
		l.onLoggedOut(ctx, cli, d.Error)
		return
	}
	l.log.Warn().Type("event_type", rawEvt).Str("state", string(d.State)).Str("reason", d.Error).Msg("WhatsApp connection problem")
	l.state.set(d.State, d.Error)
	if d.Alert != nil && l.retry.firstAlert(d.Alert.Kind) {
		l.opts.Handler.Alert(ctx, *d.Alert)
	}
	switch d.Retry {
	case RetryBackoff:
		if _, dead := rawEvt.(*events.KeepAliveTimeout); dead {
			cli.Disconnect()
		} else if cli.IsConnected() {
			// A stream error arrives before the server closes the socket; the Disconnected
			// event that follows starts the reconnect.
			return
		}
		l.startConnectLoop(cli)
	case RetryAt:
		l.retryLater(cli, d.RetryAfter)
	case RetryNever:
		l.log.Info().Msg("Not reconnecting until the user acts")
	}
}

// retryLater connects cli again after d (the end of a ban), unless the user acted meanwhile or the
// client was replaced.
func (l *Login) retryLater(cli *whatsmeow.Client, d time.Duration) {
	gen := l.retry.schedule()
	l.log.Info().Dur("retry_in", d).Msg("Reconnecting when the ban ends")
	l.opts.Go(func() {
		select {
		case <-l.opts.Background.Done():
			return
		case <-time.After(d):
		}
		if !l.retry.current(gen) || l.Client() != cli {
			return
		}
		l.retry.now()
		l.startConnectLoop(cli)
	})
}

// onLoggedOut cleans up after WhatsApp ended the session: the device was removed from the phone,
// or the session was refused at connect time (whatsmeow deletes the device from the store).
func (l *Login) onLoggedOut(ctx context.Context, cli *whatsmeow.Client, reason string) {
	l.log.Warn().Str("reason", reason).Msg("Logged out from WhatsApp")
	l.setClient(nil)
	l.setIDs(types.EmptyJID, types.EmptyJID)
	l.state.set(StateLoggedOut, reason)
	l.opts.Handler.LoggedOut(ctx, reason)
	// Not on whatsmeow's event goroutine, which this handler runs on.
	go cli.Disconnect()
}

// onPairSuccess records which account a pairing linked.
func (l *Login) onPairSuccess(evt *events.PairSuccess) {
	l.log.Info().Stringer("wa_jid", evt.ID).Msg("Paired with WhatsApp")
	l.setIDs(evt.ID, evt.LID)
}
