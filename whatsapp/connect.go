package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/wasend"
)

// ConnectStored connects the stored session of device jid. It returns at once; the connection is
// made (and retried) in the background. It returns ErrSessionGone when the store no longer has the
// device.
func (l *Login) ConnectStored(ctx context.Context, jid types.JID) error {
	l.setIDs(jid, l.LID())
	device, err := l.opts.Store.GetDevice(ctx, jid)
	if err != nil {
		return fmt.Errorf("failed to load WhatsApp session: %w", err)
	}
	if device == nil {
		l.log.Warn().Stringer("wa_jid", jid).Msg("WhatsApp session is gone from the store")
		l.setIDs(types.EmptyJID, types.EmptyJID)
		l.state.set(StateLoggedOut, ErrSessionGone.Error())
		return ErrSessionGone
	}
	l.ConnectDevice(device)
	return nil
}

// ConnectDevice connects device, a stored session loaded by the caller (sqlstore.Container's
// GetDevice or GetAllDevices), in the background as ConnectStored does. The first attempt goes at
// once: a backoff left from a client this one replaces (disconnected while WhatsApp refused it) is
// cut short, and that client's loop is woken to hand over.
func (l *Login) ConnectDevice(device *store.Device) {
	l.setIDs(*device.ID, device.LID)
	cli := l.newClient(device)
	l.retry.now()
	l.startConnectLoop(cli)
}

// startConnectLoop connects cli in the background. When a loop is already running, it is asked to
// run once more after it ends, so a disconnect that lands while the loop is finishing (after its
// connect succeeded, before it returned) is not lost.
func (l *Login) startConnectLoop(cli *whatsmeow.Client) {
	l.loopLock.Lock()
	if l.loopRunning {
		l.loopAgain, l.loopNext = true, cli
		l.loopLock.Unlock()
		// A loop waiting out its backoff for a client this one replaced ends now instead of
		// at the end of its wait (up to maxReconnectDelay).
		select {
		case l.loopWake <- struct{}{}:
		default:
		}
		return
	}
	l.loopRunning = true
	l.loopLock.Unlock()
	started := l.opts.Go(func() { l.runConnectLoops(cli) })
	if !started {
		l.loopLock.Lock()
		l.loopRunning, l.loopAgain, l.loopNext = false, false, nil
		l.loopLock.Unlock()
	}
}

// runConnectLoops runs connectLoop until no further run was asked for meanwhile.
func (l *Login) runConnectLoops(cli *whatsmeow.Client) {
	ctx := l.opts.Background
	// A "connect now" or a wake-up left over from a time no loop ran must not cut this loop's
	// first backoff.
	select {
	case <-l.reconnectNow:
	default:
	}
	select {
	case <-l.loopWake:
	default:
	}
	for {
		l.connectLoop(ctx, cli)
		l.loopLock.Lock()
		// The client asked for may be a new one (a session connected again while this loop was
		// still backing off for the one it replaced).
		next := l.loopNext
		again := l.loopAgain && ctx.Err() == nil && next != nil && l.Client() == next
		l.loopAgain, l.loopNext = false, nil
		replaced := next != cli
		cli = next
		if !again {
			l.loopRunning = false
		}
		l.loopLock.Unlock()
		if !again {
			return
		}
		if replaced {
			// The replaced client's last attempt may have been counted after ConnectDevice reset
			// the backoff: the new session's first attempt still goes at once.
			l.retry.now()
		}
	}
}

// connectLoop tries to connect until it succeeds, the client is replaced, or ctx ends. Each attempt
// after one that did not come up waits for the login's backoff (see retryState), so a connection
// WhatsApp keeps refusing is retried ever more slowly.
func (l *Login) connectLoop(ctx context.Context, cli *whatsmeow.Client) {
	for attempt := 1; ctx.Err() == nil && l.Client() == cli; attempt++ {
		if wait := l.retry.beforeAttempt(); wait > 0 {
			l.log.Info().Int("attempt", attempt).Dur("retry_in", wait).Msg("Waiting before connecting to WhatsApp again")
			if !l.backoffWait(ctx, cli, wait) || l.Client() != cli {
				return
			}
		}
		l.readAppStateProgress(ctx, cli) // appstate.go
		if ctx.Err() != nil || l.Client() != cli {
			// Taken (logout, disconnect) or replaced while the progress was read.
			return
		}
		l.state.set(StateConnecting, "")
		err := cli.ConnectContext(ctx)
		if err == nil || errors.Is(err, whatsmeow.ErrAlreadyConnected) {
			// The Connected event may have fired before this loop marked the state as
			// connecting (whatsmeow also reconnects on its own, e.g. after pairing).
			if l.retry.up() {
				l.state.set(StateConnected, "")
			}
			return
		}
		l.log.Warn().Err(err).Int("attempt", attempt).Msg("Failed to connect to WhatsApp")
		l.state.set(StateTransientDisconnect, err.Error())
	}
}

// backoffWait waits d before cli's next attempt. It returns early on "connect now" (true) and
// false when ctx ends or cli stopped being the login's client (woken by startConnectLoop).
func (l *Login) backoffWait(ctx context.Context, cli *whatsmeow.Client, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-l.reconnectNow:
			l.retry.now()
			return true
		case <-l.loopWake:
			if l.Client() != cli {
				return false
			}
		case <-timer.C:
			return true
		}
	}
}

// Reconnect drops the connection and connects again at once, cutting a running backoff short. It
// returns a channel closed when the connection is up again, or false when the login has no client
// (then ConnectStored is the way back).
func (l *Login) Reconnect() (<-chan struct{}, bool) {
	cli := l.Client()
	if cli == nil {
		return nil, false
	}
	cli.Disconnect()
	l.retry.now()
	select {
	case l.reconnectNow <- struct{}{}:
	default:
	}
	connected := l.waitConnected()
	l.startConnectLoop(cli)
	return connected, true
}

// Disconnect closes the connection on purpose (StateDisconnected) without ending the session;
// ConnectStored brings it back. It reports false when there was no client.
func (l *Login) Disconnect() bool {
	cli := l.takeClient()
	if cli == nil {
		return false
	}
	cli.Disconnect()
	l.flushStore(cli)
	l.state.set(StateDisconnected, "")
	return true
}

// flushStore writes the store writes cli's device holds pending (sessionlock.Flush) once it is
// disconnected; a failure is logged (pending writes stay pending and are tried again; a held
// decryption's message is decrypted again when WhatsApp delivers it again).
func (l *Login) flushStore(cli *whatsmeow.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sessionlock.Flush(ctx, cli.Store); err != nil {
		l.log.Warn().Err(err).Msg("Failed to write the store's pending writes")
	}
}

// Logout ends the session: it tells WhatsApp when logged in (so the device disappears from the
// phone's linked devices), then deletes the session locally whatever WhatsApp answered. unconfirmed
// is WhatsApp's refusal, if any; err is a failure to delete the local session. On success the login
// is in StateLoggedOut.
func (l *Login) Logout(ctx context.Context) (unconfirmed, err error) {
	cli := l.takeClient()
	if cli != nil && cli.IsLoggedIn() {
		// Unwrapped: the caller shows WhatsApp's answer to the user as it is.
		unconfirmed = cli.Logout(ctx)
	}
	if err = l.dropSession(ctx, cli); err != nil {
		return unconfirmed, err
	}
	l.state.set(StateLoggedOut, "")
	return unconfirmed, nil
}

// DeleteSession forgets the session without telling WhatsApp, for when it is broken: the client is
// disconnected and the device deleted from the store. On success the login is in
// StateUnconfigured.
func (l *Login) DeleteSession(ctx context.Context) error {
	if err := l.dropSession(ctx, l.takeClient()); err != nil {
		return err
	}
	l.state.set(StateUnconfigured, "")
	return nil
}

// dropSession disconnects cli (if any) and deletes the login's device from the store.
func (l *Login) dropSession(ctx context.Context, cli *whatsmeow.Client) error {
	if cli != nil {
		cli.Disconnect()
		l.waitSends(cli)
		l.flushStore(cli)
	}
	if jid := l.JID(); !jid.IsEmpty() {
		device, err := l.opts.Store.GetDevice(ctx, jid)
		if err != nil {
			return fmt.Errorf("failed to load device: %w", err)
		}
		if device != nil {
			if err = device.Delete(ctx); err != nil {
				return fmt.Errorf("failed to delete device: %w", err)
			}
		}
	}
	l.setIDs(types.EmptyJID, types.EmptyJID)
	return nil
}

// Shutdown closes the connection at bridge shutdown, leaving the state and the session as they
// are, and writes what the store held pending. Messages not acknowledged yet are delivered again
// by WhatsApp on the next connect.
func (l *Login) Shutdown() {
	if cli := l.Client(); cli != nil {
		cli.Disconnect()
		l.waitSends(cli)
		l.flushStore(cli)
	}
}

// sendsEndWithin is how long Shutdown and dropSession wait for the sends still running after the
// disconnect (whatsmeow waits up to 5 s for a reconnect before it gives a send up).
const sendsEndWithin = 10 * time.Second

// waitSends waits for cli's running sends (wasend.Wait), so that none stores Signal sessions after
// the store is flushed, the device deleted or the database closed; it logs when one outlasts
// sendsEndWithin.
func (l *Login) waitSends(cli *whatsmeow.Client) {
	if !wasend.Wait(cli, sendsEndWithin) {
		l.log.Warn().Dur("waited", sendsEndWithin).Msg("A WhatsApp send was still running after the disconnect")
	}
}
