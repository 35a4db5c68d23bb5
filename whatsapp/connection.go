package whatsapp

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// keepAliveFailures is how many keepalives in a row may go unanswered before the connection is
// considered dead and made again.
const keepAliveFailures = 3

// onConnected marks the login connected, wakes those waiting for it and tells the handler.
func (l *Login) onConnected(ctx context.Context) {
	l.log.Info().Msg("Connected to WhatsApp")
	l.state.set(StateConnected, "")
	l.contacts.reset()
	l.signalConnected()
	l.opts.Handler.Connected(ctx)
}

// onDisconnected reconnects after a lost connection. Before pairing finished there is nothing to
// reconnect: the pairing flow sees the disconnect through its QR channel.
func (l *Login) onDisconnected(cli *whatsmeow.Client) {
	if l.JID().IsEmpty() {
		return
	}
	l.log.Warn().Msg("Disconnected from WhatsApp, reconnecting")
	l.state.set(StateTransientDisconnect, "connection lost")
	l.startConnectLoop(cli)
}

// onKeepAliveTimeout makes the connection again once WhatsApp stopped answering keepalives.
func (l *Login) onKeepAliveTimeout(cli *whatsmeow.Client, evt *events.KeepAliveTimeout) {
	if evt.ErrorCount < keepAliveFailures {
		return
	}
	l.log.Warn().Int("errors", evt.ErrorCount).Msg("WhatsApp stopped answering keepalives, reconnecting")
	cli.Disconnect()
	l.state.set(StateTransientDisconnect, "keepalive timeout")
	l.startConnectLoop(cli)
}

// onLoggedOut cleans up after WhatsApp ended the session: the device was removed from the phone,
// or the session was refused at connect time (whatsmeow deletes the device from the store).
func (l *Login) onLoggedOut(ctx context.Context, cli *whatsmeow.Client, evt *events.LoggedOut) {
	reason := "the linked device was removed from your phone"
	if evt.OnConnect {
		reason = fmt.Sprintf("WhatsApp refused the session (%s)", evt.Reason)
	}
	l.log.Warn().Bool("on_connect", evt.OnConnect).Str("reason", reason).Msg("Logged out from WhatsApp")
	l.setClient(nil)
	l.setIDs(types.EmptyJID, types.EmptyJID)
	l.state.set(StateLoggedOut, reason)
	l.opts.Handler.LoggedOut(ctx, reason)
	// Not on whatsmeow's event goroutine, which this handler runs on.
	go cli.Disconnect()
}

// onStreamReplaced: another client took the session's connection.
func (l *Login) onStreamReplaced(ctx context.Context) {
	l.log.Warn().Msg("Another client connected with the same WhatsApp session")
	l.state.set(StateBadCredentials, "another client connected with this session")
	l.opts.Handler.Alert(ctx, Alert{Kind: AlertStreamReplaced})
}

// onConnectFailure: WhatsApp refused the connection for a reason other than a logout or a ban.
func (l *Login) onConnectFailure(evt *events.ConnectFailure) {
	l.log.Warn().Int("reason", int(evt.Reason)).Str("message", evt.Message).Msg("WhatsApp refused the connection")
	l.state.set(StateBadCredentials, fmt.Sprintf("connection refused: %s", evt.Reason))
}

// onTemporaryBan: the account is banned for a while.
func (l *Login) onTemporaryBan(ctx context.Context, evt *events.TemporaryBan) {
	l.log.Warn().Stringer("ban", evt).Msg("WhatsApp account is temporarily banned")
	l.state.set(StateBadCredentials, evt.String())
	l.opts.Handler.Alert(ctx, Alert{Kind: AlertTemporaryBan, Detail: evt.String()})
}

// onClientOutdated: WhatsApp refuses this client version.
func (l *Login) onClientOutdated(ctx context.Context) {
	l.state.set(StateBadCredentials, "WhatsApp says this client is outdated")
	l.opts.Handler.Alert(ctx, Alert{Kind: AlertClientOutdated})
}

// onPairSuccess records which account a pairing linked.
func (l *Login) onPairSuccess(evt *events.PairSuccess) {
	l.log.Info().Stringer("wa_jid", evt.ID).Msg("Paired with WhatsApp")
	l.setIDs(evt.ID, evt.LID)
}
