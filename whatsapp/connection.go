package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// keepAliveFailures is how many keepalives in a row may go unanswered before the connection is
// considered dead (a silent, half-open connection) and made again.
const keepAliveFailures = 3

// onConnected marks the login connected, wakes those waiting for it and tells the handler.
func (l *Login) onConnected(ctx context.Context) {
	l.log.Info().Msg("Connected to WhatsApp")
	l.retry.connected()
	l.state.set(StateConnected, "")
	l.contacts.reset()
	l.presence.reset()
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
