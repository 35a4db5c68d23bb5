package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// maxListedContacts bounds the answer of list-contacts so it stays readable.
const maxListedContacts = 50

// cmdListContacts lists the user's WhatsApp contacts, optionally only those whose name or number
// contains the query.
func cmdListContacts(ctx context.Context, ce *commandEvent) {
	login := ce.user.wa
	if login.Client() == nil || ce.user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in to WhatsApp.")
		return
	}
	contacts, err := ce.br.listContacts(ctx, ce.user, strings.Join(ce.args, " ")) // contacts.go
	if err != nil {
		ce.reply(ctx, "Failed to read your contacts: %v", err)
		return
	}
	query := strings.TrimSpace(strings.Join(ce.args, " "))
	rows := make([]string, 0, len(contacts))
	for _, c := range contacts {
		// Names are chosen by the contacts themselves: shown as typed, never as Markdown.
		rows = append(rows, fmt.Sprintf("* %s %s - [%s](%s)", format.EscapeMarkdown(c.Name), c.Phone, c.Ghost, c.Ghost.URI().MatrixToURL()))
	}
	if len(rows) == 0 {
		if query != "" {
			ce.reply(ctx, "No contacts match %s.", markdownCode(query))
		} else {
			ce.reply(ctx, "No contacts known yet. Contacts appear once they message you or are in your groups.")
		}
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d contact(s):\n\n", len(rows))
	for i, r := range rows {
		if i == maxListedContacts {
			fmt.Fprintf(&sb, "\n…and %d more; narrow it down with `%ssearch <name>`.", len(rows)-i, ce.prefix())
			break
		}
		sb.WriteString(r + "\n")
	}
	ce.reply(ctx, "%s", sb.String())
}

// cmdPM opens (or finds) the direct chat with a phone number.
func cmdPM(ctx context.Context, ce *commandEvent) {
	if len(ce.args) == 0 {
		ce.reply(ctx, "Usage: `%spm +4915112345678`", ce.prefix())
		return
	}
	if ce.user.wa.Client() == nil || ce.user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are not logged in to WhatsApp.")
		return
	}
	// Letters or a second "+" mean the user typed something else: never drop them and open a chat
	// with whatever digits are left.
	digits, ok := phoneDigits(strings.Join(ce.args, " "))
	if !ok {
		ce.reply(ctx, "`%s` is not a phone number. Use the international format, e.g. `+4915112345678`.", strings.Join(ce.args, " "))
		return
	}
	// A DM with a number that has no WhatsApp account would be a room nobody ever answers in.
	jid, err := ce.user.wa.CheckOnWhatsApp(ctx, digits)
	if errors.Is(err, whatsapp.ErrNotOnWhatsApp) {
		ce.reply(ctx, "+%s is not on WhatsApp, so no chat was created. Check the number (international format, e.g. `+4915112345678`).", digits)
		return
	} else if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to check whether a number is on WhatsApp")
		ce.reply(ctx, "Could not ask WhatsApp whether +%s is on WhatsApp, so no chat was created: %v. Try again later.", digits, err)
		return
	}
	roomID, err := ce.br.portals.OpenDM(ctx, userLogin{ce.user}, jid)
	if err != nil {
		ce.reply(ctx, "Failed to open a chat with +%s: %v", digits, err)
		return
	}
	ce.reply(ctx, "Your chat with +%s is [%s](%s). Accept the invite if you have not joined it yet.", digits, roomID, roomID.URI().MatrixToURL())
}

// startDMFromInvite handles a user inviting a ghost to a room: the room becomes the DM with that
// contact when there is none yet.
func (br *Bridge) startDMFromInvite(ctx context.Context, inviter id.UserID, ghostID id.UserID, roomID id.RoomID) error {
	login := br.LoginByMXID(ctx, inviter, database.PortalKey{})
	ghost, err := br.puppets.GetByMXID(ctx, ghostID)
	if err != nil || ghost == nil {
		return err
	}
	if login == nil {
		br.sendGhostRefusal(ctx, ghost, roomID, "You need to log in to WhatsApp (send `login` to the bridge bot) before you can start chats.")
		return nil
	}
	if ghost.JID.Server == types.DefaultUserServer {
		if user, err := br.GetUser(ctx, inviter); err == nil {
			if _, err = user.AccountFor(login.OwnJID()).wa.CheckOnWhatsApp(ctx, ghost.JID.User); errors.Is(err, whatsapp.ErrNotOnWhatsApp) {
				br.sendGhostRefusal(ctx, ghost, roomID, fmt.Sprintf("+%s is not on WhatsApp, so this room was not bridged.", ghost.JID.User))
				return nil
			} else if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to check whether a number is on WhatsApp")
				br.sendGhostRefusal(ctx, ghost, roomID, fmt.Sprintf("Could not ask WhatsApp whether +%s is on WhatsApp (%v), so this room was not bridged. Try again later.", ghost.JID.User, err))
				return nil
			}
		}
	}
	return br.portals.AdoptDM(ctx, login, ghost.JID, roomID)
}

func (br *Bridge) sendGhostRefusal(ctx context.Context, ghost *puppet.Puppet, roomID id.RoomID, text string) {
	if err := ghost.EnsureRegistered(ctx); err != nil {
		return
	}
	intent := ghost.Intent()
	if _, err := intent.JoinRoomByID(ctx, roomID); err != nil {
		return
	}
	_, _ = intent.SendNotice(ctx, roomID, text)
	_, _ = intent.LeaveRoom(ctx, roomID)
}

// markdownCode shows s as inline code in a Markdown reply, as typed: the fence is one backtick
// longer than the longest run of backticks in s.
func markdownCode(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if longest > 0 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}
