package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// cmdLogout logs the device out on WhatsApp (it disappears from the phone's linked devices) and
// forgets the session.
func cmdLogout(ctx context.Context, ce *commandEvent) {
	user := ce.user
	if user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in.")
		return
	}
	cli := user.getClient()
	user.setClient(nil)
	if cli != nil && cli.IsLoggedIn() {
		if err := cli.Logout(ctx); err != nil {
			user.log.Warn().Err(err).Msg("WhatsApp logout failed, removing the session locally")
			ce.reply(ctx, "WhatsApp did not confirm the logout (%v); the session was removed from the bridge anyway. Remove the device from your phone's linked devices if it is still listed.", err)
		}
	}
	if err := user.dropSession(ctx, cli); err != nil {
		ce.reply(ctx, "Failed to remove the session: %v", err)
		return
	}
	user.state.set(StateLoggedOut, "")
	ce.reply(ctx, "Logged out of WhatsApp.")
}

// cmdDeleteSession forgets the session without telling WhatsApp, for when the session is broken.
func cmdDeleteSession(ctx context.Context, ce *commandEvent) {
	user := ce.user
	cli := user.getClient()
	user.setClient(nil)
	if cli == nil && user.WAJID().IsEmpty() {
		ce.reply(ctx, "There is no session to delete.")
		return
	}
	if err := user.dropSession(ctx, cli); err != nil {
		ce.reply(ctx, "Failed to delete the session: %v", err)
		return
	}
	user.state.set(StateUnconfigured, "")
	ce.reply(ctx, "Session deleted. The device may still be listed on your phone; remove it there too.")
}

// dropSession disconnects cli (if any) and deletes the device from the whatsmeow store and the
// user's login from the bridge database.
func (user *User) dropSession(ctx context.Context, cli interface{ Disconnect() }) error {
	if cli != nil {
		cli.Disconnect()
	}
	if jid := user.WAJID(); !jid.IsEmpty() {
		device, err := user.br.DB.WhatsmeowContainer().GetDevice(ctx, jid)
		if err != nil {
			return fmt.Errorf("failed to load device: %w", err)
		}
		if device != nil {
			if err = device.Delete(ctx); err != nil {
				return fmt.Errorf("failed to delete device: %w", err)
			}
		}
	}
	return user.clearLogin(ctx)
}

// cmdStatus reports who the user is logged in as and the connection state.
func cmdStatus(ctx context.Context, ce *commandEvent) {
	user := ce.user
	st := user.state.get()
	jid := user.WAJID()
	var sb strings.Builder
	if jid.IsEmpty() {
		sb.WriteString("You are not logged in to WhatsApp.")
		if st.Event == StateLoggedOut && st.Error != "" {
			fmt.Fprintf(&sb, " Your last session ended: %s.", st.Error)
		}
		fmt.Fprintf(&sb, " Send `%slogin` to log in.", ce.prefix())
		ce.reply(ctx, "%s", sb.String())
		return
	}
	fmt.Fprintf(&sb, "Logged in as %s (device %d).\n\n", formatPhone(jid.User), jid.Device)
	switch st.Event {
	case StateConnected:
		fmt.Fprintf(&sb, "Connected to WhatsApp since %s (%s).", st.ConnectedSince.UTC().Format(time.RFC3339), time.Since(st.ConnectedSince).Round(time.Second))
	default:
		fmt.Fprintf(&sb, "Not connected: %s since %s.", strings.ToLower(strings.ReplaceAll(string(st.Event), "_", " ")), st.Since.UTC().Format(time.RFC3339))
	}
	if st.Error != "" {
		fmt.Fprintf(&sb, "\n\nLast error: %s", st.Error)
	}
	ce.reply(ctx, "%s", sb.String())
}

// cmdReconnect drops the connection (if any) and connects again at once.
func cmdReconnect(ctx context.Context, ce *commandEvent) {
	user := ce.user
	cli := user.getClient()
	if cli == nil {
		if user.WAJID().IsEmpty() {
			ce.reply(ctx, "You are not logged in.")
			return
		}
		if err := user.connectStored(ctx); err != nil {
			ce.reply(ctx, "Failed to reconnect: %v", err)
			return
		}
		ce.reply(ctx, "Reconnecting…")
		return
	}
	cli.Disconnect()
	select {
	case user.reconnectNow <- struct{}{}:
	default:
	}
	connected := user.waitConnected()
	user.startConnectLoop(cli)
	// Wait for the result in the background so that other commands and messages are not held up.
	user.br.spawn(func() {
		select {
		case <-connected:
			ce.reply(ctx, "Reconnected to WhatsApp.")
		case <-time.After(30 * time.Second):
			ce.reply(ctx, "Still reconnecting; send `%sstatus` to check.", ce.prefix())
		case <-user.br.ctx.Done():
		}
	})
}

// cmdDisconnect closes the WhatsApp connection without logging out; `reconnect` brings it back.
func cmdDisconnect(ctx context.Context, ce *commandEvent) {
	user := ce.user
	cli := user.getClient()
	if cli == nil {
		ce.reply(ctx, "You are not connected.")
		return
	}
	user.setClient(nil)
	cli.Disconnect()
	user.state.set(StateDisconnected, "")
	ce.reply(ctx, "Disconnected from WhatsApp. Send `%sreconnect` to connect again.", ce.prefix())
}
