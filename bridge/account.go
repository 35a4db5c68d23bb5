package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// cmdLogout logs the device out on WhatsApp (it disappears from the phone's linked devices) and
// forgets the session.
func cmdLogout(ctx context.Context, ce *commandEvent) {
	user := ce.user
	if user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in.")
		return
	}
	unconfirmed, err := user.wa.Logout(ctx)
	if unconfirmed != nil {
		user.log.Warn().Err(unconfirmed).Msg("WhatsApp logout failed, removing the session locally")
		ce.reply(ctx, "WhatsApp did not confirm the logout (%v); the session was removed from the bridge anyway. Remove the device from your phone's linked devices if it is still listed.", unconfirmed)
	}
	if err == nil {
		err = user.clearLogin(ctx)
	}
	if err != nil {
		ce.reply(ctx, "Failed to remove the session: %v", err)
		return
	}
	ce.reply(ctx, "Logged out of WhatsApp.")
}

// cmdDeleteSession forgets the session without telling WhatsApp, for when the session is broken.
func cmdDeleteSession(ctx context.Context, ce *commandEvent) {
	user := ce.user
	if user.wa.Client() == nil && user.WAJID().IsEmpty() {
		ce.reply(ctx, "There is no session to delete.")
		return
	}
	err := user.wa.DeleteSession(ctx)
	if err == nil {
		err = user.clearLogin(ctx)
	}
	if err != nil {
		ce.reply(ctx, "Failed to delete the session: %v", err)
		return
	}
	ce.reply(ctx, "Session deleted. The device may still be listed on your phone; remove it there too.")
}

// cmdStatus reports who the user is logged in as and the connection state.
func cmdStatus(ctx context.Context, ce *commandEvent) {
	user := ce.user
	st := user.wa.State()
	jid := user.WAJID()
	var sb strings.Builder
	if jid.IsEmpty() {
		sb.WriteString("You are not logged in to WhatsApp.")
		if st.Event == whatsapp.StateLoggedOut && st.Error != "" {
			fmt.Fprintf(&sb, " Your last session ended: %s.", st.Error)
		}
		fmt.Fprintf(&sb, " Send `%slogin` to log in.", ce.prefix())
		ce.reply(ctx, "%s", sb.String())
		return
	}
	fmt.Fprintf(&sb, "Logged in as %s (device %d)", formatPhone(jid.User), jid.Device)
	if name := user.OwnPushName(); name != "" {
		fmt.Fprintf(&sb, ", WhatsApp name **%s**", name)
	}
	sb.WriteString(".\n\n")
	switch st.Event {
	case whatsapp.StateConnected:
		fmt.Fprintf(&sb, "Connected to WhatsApp since %s (%s).", st.ConnectedSince.UTC().Format(time.RFC3339), time.Since(st.ConnectedSince).Round(time.Second))
	default:
		fmt.Fprintf(&sb, "Not connected: %s since %s.", strings.ToLower(strings.ReplaceAll(string(st.Event), "_", " ")), st.Since.UTC().Format(time.RFC3339))
	}
	if synced, total := user.wa.AppStateProgress(); total > 0 {
		if synced == total {
			sb.WriteString("\n\nContacts and chat settings are synced from your phone.")
		} else {
			fmt.Fprintf(&sb, "\n\nWaiting for your phone to send contacts and chat settings (%d of %d app state collections synced).", synced, total)
		}
	}
	if line := user.historyStatus(); line != "" {
		sb.WriteString("\n\n" + line)
	}
	if st.Error != "" {
		fmt.Fprintf(&sb, "\n\nLast error: %s", st.Error)
	}
	ce.reply(ctx, "%s", sb.String())
}

// cmdReconnect drops the connection (if any) and connects again at once.
func cmdReconnect(ctx context.Context, ce *commandEvent) {
	user := ce.user
	connected, ok := user.wa.Reconnect()
	if !ok {
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
	// Wait for the result in the background so that other commands and messages are not held up:
	// the connection comes up, or WhatsApp refuses it again (the login's state says so at once;
	// the bridge does not retry a refusal on its own, so waiting longer would tell nothing).
	start := time.Now()
	user.br.spawn(func() {
		poll := time.NewTicker(250 * time.Millisecond)
		defer poll.Stop()
		giveUp := time.After(30 * time.Second)
		for {
			select {
			case <-connected:
				ce.reply(ctx, "Reconnected to WhatsApp.")
				return
			case <-poll.C:
				st := user.wa.State()
				if st.Since.Before(start) {
					continue
				}
				switch st.Event {
				case whatsapp.StateBadCredentials:
					ce.reply(ctx, "WhatsApp refused the connection again: %s. Send `%sreconnect` to try once more.", st.Error, ce.prefix())
					return
				case whatsapp.StateLoggedOut:
					ce.reply(ctx, "WhatsApp ended the session: %s. Send `%slogin` to log in again.", st.Error, ce.prefix())
					return
				}
			case <-giveUp:
				ce.reply(ctx, "Still reconnecting; send `%sstatus` to check.", ce.prefix())
				return
			case <-user.br.ctx.Done():
				return
			}
		}
	})
}

// cmdDisconnect closes the WhatsApp connection without logging out; `reconnect` brings it back.
func cmdDisconnect(ctx context.Context, ce *commandEvent) {
	if !ce.user.wa.Disconnect() {
		ce.reply(ctx, "You are not connected.")
		return
	}
	ce.reply(ctx, "Disconnected from WhatsApp. Send `%sreconnect` to connect again.", ce.prefix())
}
