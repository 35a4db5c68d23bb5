package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// accountArg is the account a command names with its first argument (a phone number), else the
// account the command acts for (ce.user). It answers the user itself and returns nil when the
// number is not one of the user's logins.
func (ce *commandEvent) accountArg(ctx context.Context) *Account {
	if len(ce.args) == 0 {
		return ce.user
	}
	arg := strings.Join(ce.args, "")
	if acct := ce.user.Account(arg); acct != nil {
		return acct
	}
	ce.reply(ctx, "`%s` is not one of your WhatsApp logins. Send `%slist-logins` to see them.", strings.Join(ce.args, " "), ce.prefix())
	return nil
}

// cmdLogout logs the device out on WhatsApp (it disappears from the phone's linked devices) and
// forgets the session: the login named by number, else the default one. The user's other logins
// stay.
func cmdLogout(ctx context.Context, ce *commandEvent) {
	user := ce.accountArg(ctx)
	if user == nil {
		return
	}
	if user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in.")
		return
	}
	phone := user.Phone()
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
	if left := ce.user.Accounts(); len(left) > 0 {
		ce.reply(ctx, "Logged out of WhatsApp as %s. Your default login is now %s.", formatPhone(phone), formatPhone(ce.user.DefaultPhone()))
		return
	}
	ce.reply(ctx, "Logged out of WhatsApp.")
}

// cmdDeleteSession forgets the session without telling WhatsApp, for when the session is broken.
func cmdDeleteSession(ctx context.Context, ce *commandEvent) {
	user := ce.accountArg(ctx)
	if user == nil {
		return
	}
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

// cmdStatus reports who the user is logged in as and the connection state: of the login named by
// number, else of every login (the default one first).
func cmdStatus(ctx context.Context, ce *commandEvent) {
	if len(ce.args) > 0 {
		if user := ce.accountArg(ctx); user != nil {
			ce.reply(ctx, "%s", user.statusText(ce.prefix()))
		}
		return
	}
	def := ce.user.Default()
	parts := []string{def.statusText(ce.prefix())}
	for _, acct := range ce.user.Accounts() {
		if acct != def {
			parts = append(parts, acct.statusText(ce.prefix()))
		}
	}
	ce.reply(ctx, "%s", strings.Join(parts, "\n\n---\n\n"))
}

// statusText is what `status` says about one account.
func (user *Account) statusText(prefix string) string {
	st := user.wa.State()
	jid := user.WAJID()
	var sb strings.Builder
	if jid.IsEmpty() {
		sb.WriteString("You are not logged in to WhatsApp.")
		if st.Event == whatsapp.StateLoggedOut && st.Error != "" {
			fmt.Fprintf(&sb, " Your last session ended: %s.", st.Error)
		}
		fmt.Fprintf(&sb, " Send `%slogin` to log in.", prefix)
		sb.WriteString("\n\n" + bridgeStateLine(user.BridgeState()))
		return sb.String()
	}
	fmt.Fprintf(&sb, "Logged in as %s (device %d)", formatPhone(jid.User), jid.Device)
	if len(user.Accounts()) > 1 && user.Default() == user {
		sb.WriteString(" (default login)")
	}
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
	sb.WriteString("\n\n" + bridgeStateLine(user.BridgeState()))
	return sb.String()
}

// bridgeStateLine shows the bridge state as the status endpoint and the provisioning API get it.
func bridgeStateLine(bs BridgeState) string {
	switch {
	case bs.Error == "":
		return fmt.Sprintf("Bridge state: `%s`", bs.StateEvent)
	case bs.Message == "":
		return fmt.Sprintf("Bridge state: `%s` (`%s`)", bs.StateEvent, bs.Error)
	}
	return fmt.Sprintf("Bridge state: `%s` (`%s`: %s)", bs.StateEvent, bs.Error, bs.Message)
}

// cmdReconnect drops the connection (if any) and connects again at once.
func cmdReconnect(ctx context.Context, ce *commandEvent) {
	user := ce.accountArg(ctx)
	if user == nil {
		return
	}
	connected, ok := user.wa.Reconnect()
	if !ok {
		if user.WAJID().IsEmpty() {
			ce.reply(ctx, "You are not logged in.")
			return
		}
		start := time.Now()
		if err := user.connectStored(ctx, nil); err != nil {
			ce.reply(ctx, "Failed to reconnect: %v", err)
			return
		}
		ce.reply(ctx, "Reconnecting…")
		awaitReconnect(ctx, ce, user, nil, start)
		return
	}
	awaitReconnect(ctx, ce, user, connected, time.Now())
}

// awaitReconnect tells ce's room how a reconnect started at start ends: connected (connected is
// closed, or for nil the login's state becomes CONNECTED), or refused again by WhatsApp. It waits
// in the background so that other commands and messages are not held up (the login's state says
// a refusal at once; the bridge does not retry a refusal on its own, so waiting longer would tell
// nothing), at most 30 s.
func awaitReconnect(ctx context.Context, ce *commandEvent, user *Account, connected <-chan struct{}, start time.Time) {
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
				case whatsapp.StateConnected:
					if connected == nil {
						ce.reply(ctx, "Reconnected to WhatsApp.")
						return
					}
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
	user := ce.accountArg(ctx)
	if user == nil {
		return
	}
	if !user.wa.Disconnect() {
		ce.reply(ctx, "You are not connected.")
		return
	}
	if phone := user.Phone(); phone != "" && len(user.Accounts()) > 1 {
		// With several logins a bare `reconnect` means the default one: name this one.
		ce.reply(ctx, "Disconnected +%s from WhatsApp. Send `%sreconnect +%s` to connect it again.", phone, ce.prefix(), phone)
		return
	}
	ce.reply(ctx, "Disconnected from WhatsApp. Send `%sreconnect` to connect again.", ce.prefix())
}
