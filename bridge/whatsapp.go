package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Reconnect backoff: the first retry comes after minReconnectDelay, each later one waits twice as
// long up to maxReconnectDelay, and every delay is spread by ±25% so that many logins that lost the
// connection at once (a WhatsApp outage) do not come back in lockstep.
const (
	minReconnectDelay = 1 * time.Second
	maxReconnectDelay = 2 * time.Minute
)

func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// newClient makes a whatsmeow client for a device of this user, wired to the configured servers.
//
// SynchronousAck is on: WhatsApp gets the acknowledgement of a message only after our handler has
// returned, that is, after the message is safely bridged. whatsmeow's own reconnect loop is off in
// favour of ours (exponential backoff with jitter, see connectLoop).
func (user *User) newClient(device *store.Device) *whatsmeow.Client {
	log := user.log.With().Str("component", "whatsmeow").Logger()
	cli := whatsmeow.NewClient(device, whatsapp.Logger(log))
	whatsapp.ApplyTransport(cli, user.br.waWebsocket, user.br.waMedia)
	cli.SynchronousAck = true
	cli.EnableAutoReconnect = false
	// Keep decrypted plaintext until the handler succeeded, so that a message WhatsApp delivers again
	// (because bridging it failed) can still be read after the Signal ratchet moved on.
	cli.EnableDecryptedEventBuffer = true
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool { return user.handleWAEvent(cli, evt) })
	return cli
}

// connectStored connects the user's stored WhatsApp session, if there is one. It returns at once;
// the connection is made (and retried) in the background.
func (user *User) connectStored(ctx context.Context) error {
	jid := user.WAJID()
	if jid.IsEmpty() {
		return nil
	}
	device, err := user.br.DB.WhatsmeowContainer().GetDevice(ctx, jid)
	if err != nil {
		return fmt.Errorf("failed to load WhatsApp session: %w", err)
	}
	if device == nil {
		user.log.Warn().Stringer("wa_jid", jid).Msg("WhatsApp session is gone from the store, clearing login")
		user.state.set(StateLoggedOut, "the WhatsApp session was not found in the database")
		return user.clearLogin(ctx)
	}
	user.setPaired(jid, device.LID)
	cli := user.newClient(device)
	user.setClient(cli)
	user.startConnectLoop(cli)
	return nil
}

// startConnectLoop connects cli in the background unless a loop is already running for it.
func (user *User) startConnectLoop(cli *whatsmeow.Client) {
	if !user.connecting.CompareAndSwap(false, true) {
		return
	}
	user.br.spawn(func() {
		defer user.connecting.Store(false)
		user.connectLoop(user.br.ctx, cli)
	})
}

// connectLoop tries to connect until it succeeds, the client is replaced, or the bridge stops.
func (user *User) connectLoop(ctx context.Context, cli *whatsmeow.Client) {
	delay := minReconnectDelay
	for attempt := 1; ctx.Err() == nil && user.getClient() == cli; attempt++ {
		user.state.set(StateConnecting, "")
		err := cli.ConnectContext(ctx)
		if err == nil || errors.Is(err, whatsmeow.ErrAlreadyConnected) {
			// The Connected event may have fired before this loop marked the state as
			// connecting (whatsmeow also reconnects on its own, e.g. after pairing).
			if cli.IsLoggedIn() {
				user.state.set(StateConnected, "")
			}
			return
		}
		wait := jittered(delay)
		user.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("Failed to connect to WhatsApp")
		user.state.set(StateTransientDisconnect, err.Error())
		select {
		case <-ctx.Done():
			return
		case <-user.reconnectNow:
			delay = minReconnectDelay
			continue
		case <-time.After(wait):
		}
		delay = min(delay*2, maxReconnectDelay)
	}
}

// handleWAEvent is whatsmeow's event handler for one client of this user. Events of a client that is
// no longer the user's current one (after a logout or a new login) are ignored. It returns false when
// an event could not be handled, so that whatsmeow does not acknowledge it.
func (user *User) handleWAEvent(cli *whatsmeow.Client, rawEvt any) bool {
	if user.getClient() != cli {
		return true
	}
	log := user.log
	switch evt := rawEvt.(type) {
	case *events.Connected:
		log.Info().Msg("Connected to WhatsApp")
		user.state.set(StateConnected, "")
		user.contacts.reset()
		user.signalConnected()
		// Matrix messages that waited for the connection go out now.
		user.br.clearPending()
		user.br.wakeInbox()
		user.br.spawn(func() {
			user.br.syncChats(user)
		})
	case *events.Disconnected:
		if user.paired().IsEmpty() {
			// Not paired yet: the login flow sees the disconnect through its QR channel.
			return true
		}
		log.Warn().Msg("Disconnected from WhatsApp, reconnecting")
		user.state.set(StateTransientDisconnect, "connection lost")
		user.startConnectLoop(cli)
	case *events.KeepAliveTimeout:
		if evt.ErrorCount >= 3 {
			log.Warn().Int("errors", evt.ErrorCount).Msg("WhatsApp stopped answering keepalives, reconnecting")
			cli.Disconnect()
			user.state.set(StateTransientDisconnect, "keepalive timeout")
			user.startConnectLoop(cli)
		}
	case *events.LoggedOut:
		user.handleLoggedOut(cli, evt)
	case *events.StreamReplaced:
		log.Warn().Msg("Another client connected with the same WhatsApp session")
		user.state.set(StateBadCredentials, "another client connected with this session")
		user.notify("Another client connected to WhatsApp with this bridge's session, so the bridge was disconnected. Send `reconnect` to take the connection back.")
	case *events.ConnectFailure:
		log.Warn().Int("reason", int(evt.Reason)).Str("message", evt.Message).Msg("WhatsApp refused the connection")
		user.state.set(StateBadCredentials, fmt.Sprintf("connection refused: %s", evt.Reason))
	case *events.TemporaryBan:
		log.Warn().Stringer("ban", evt).Msg("WhatsApp account is temporarily banned")
		user.state.set(StateBadCredentials, evt.String())
		user.notify(fmt.Sprintf("WhatsApp has temporarily banned your account: %s", evt))
	case *events.ClientOutdated:
		user.state.set(StateBadCredentials, "WhatsApp says this client is outdated")
		user.notify("WhatsApp says this bridge's client version is outdated. Please update the bridge.")
	case *events.PairSuccess:
		log.Info().Stringer("wa_jid", evt.ID).Msg("Paired with WhatsApp")
		user.setPaired(evt.ID, evt.LID)
	default:
		return user.br.handleWhatsAppEvent(user, cli, rawEvt)
	}
	return true
}

// handleLoggedOut cleans up after WhatsApp ended the session: the device was removed from the phone,
// or the session was refused at connect time.
func (user *User) handleLoggedOut(cli *whatsmeow.Client, evt *events.LoggedOut) {
	ctx := user.br.ctx
	reason := "the linked device was removed from your phone"
	if evt.OnConnect {
		reason = fmt.Sprintf("WhatsApp refused the session (%s)", evt.Reason)
	}
	user.log.Warn().Bool("on_connect", evt.OnConnect).Str("reason", reason).Msg("Logged out from WhatsApp")
	user.setClient(nil)
	user.state.set(StateLoggedOut, reason)
	if err := user.clearLogin(ctx); err != nil {
		user.log.Err(err).Msg("Failed to clear login after logout")
	}
	user.notify(fmt.Sprintf("You were logged out of WhatsApp: %s. Send `login` to log in again.", reason))
	go cli.Disconnect()
}

// notify posts a notice in the user's management room, if there is one.
func (user *User) notify(markdown string) {
	room := user.ManagementRoom()
	if room == "" {
		user.log.Debug().Str("notice", markdown).Msg("No management room for notice")
		return
	}
	user.br.sendBotNotice(user.log.WithContext(user.br.ctx), room, markdown)
}
