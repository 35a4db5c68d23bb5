package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// cmdListLogins lists the user's WhatsApp logins, oldest first, with their connection state and
// which one is the default.
func cmdListLogins(ctx context.Context, ce *commandEvent) {
	accounts := ce.user.Accounts()
	ce.user.loginLock.Lock()
	linking := ce.user.login != nil
	ce.user.loginLock.Unlock()
	pending := fmt.Sprintf("* a new login, still being linked (`%scancel` stops it)\n", ce.prefix())
	if len(accounts) == 0 {
		if linking {
			ce.reply(ctx, "You are not logged in to WhatsApp yet:\n\n%s", pending)
			return
		}
		ce.reply(ctx, "You are not logged in to WhatsApp. Send `%slogin` to log in.", ce.prefix())
		return
	}
	def := ce.user.Default()
	var sb strings.Builder
	sb.WriteString("Your WhatsApp logins:\n\n")
	for _, acct := range accounts {
		fmt.Fprintf(&sb, "* %s", formatPhone(acct.Phone()))
		if name := acct.OwnPushName(); name != "" {
			fmt.Fprintf(&sb, " (**%s**)", name)
		}
		fmt.Fprintf(&sb, ": %s", stateWords(acct.wa.State().Event))
		if acct == def {
			sb.WriteString(", default")
		}
		sb.WriteString("\n")
	}
	if linking {
		sb.WriteString(pending)
	}
	fmt.Fprintf(&sb, "\nCommands act through the default login, in a chat's room through the chat's. `%sset-default-login <number>` changes the default; `%slogout <number>` logs one out; `%slogin` adds another.",
		ce.prefix(), ce.prefix(), ce.prefix())
	ce.reply(ctx, "%s", sb.String())
}

// stateWords is a login state in words.
func stateWords(ev whatsapp.StateEvent) string {
	return strings.ToLower(strings.ReplaceAll(string(ev), "_", " "))
}

// cmdSetDefaultLogin makes the named login the one commands and the provisioning API use when
// none is named.
func cmdSetDefaultLogin(ctx context.Context, ce *commandEvent) {
	if len(ce.args) == 0 {
		ce.reply(ctx, "Name the login: `%sset-default-login <number>`. Send `%slist-logins` to see them.", ce.prefix(), ce.prefix())
		return
	}
	acct := ce.accountArg(ctx)
	if acct == nil {
		return
	}
	if err := ce.user.SetDefault(ctx, acct); err != nil {
		ce.reply(ctx, "Failed to change the default login: %v", err)
		return
	}
	ce.reply(ctx, "Your default WhatsApp login is now %s.", formatPhone(acct.Phone()))
}
