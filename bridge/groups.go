package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Groups and invite links, shared by the join and invite-link commands and the provisioning API.

// Error codes of group requests in the provisioning API.
const (
	errcodeGroupNotFound     = "COM.GITHUB.MATRIX_WHATSAPP.GROUP_NOT_FOUND"
	errcodeNotInGroup        = "COM.GITHUB.MATRIX_WHATSAPP.NOT_IN_GROUP"
	errcodeNotGroupAdmin     = "COM.GITHUB.MATRIX_WHATSAPP.NOT_GROUP_ADMIN"
	errcodeInviteLinkInvalid = "COM.GITHUB.MATRIX_WHATSAPP.INVITE_LINK_INVALID"
	errcodeInviteLinkRevoked = "COM.GITHUB.MATRIX_WHATSAPP.INVITE_LINK_REVOKED"
)

// inviteCodeRegex matches the code of a WhatsApp invite link: letters and digits.
var inviteCodeRegex = regexp.MustCompile(`^[A-Za-z0-9]{8,64}$`)

// parseInviteLink returns the code of a WhatsApp group invite link, given as
// https://chat.whatsapp.com/CODE (with or without the scheme, query or trailing slash). It
// reports false for anything else.
func parseInviteLink(link string) (string, bool) {
	rest := strings.TrimSpace(link)
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "https://"), "http://")
	rest, ok := strings.CutPrefix(rest, "chat.whatsapp.com/")
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest = strings.TrimSuffix(rest, "/")
	rest = strings.TrimPrefix(rest, "invite/")
	return rest, inviteCodeRegex.MatchString(rest)
}

// groupError is a group request that failed, in words for a command reply and as a provisioning
// API error.
type groupError struct {
	status  int
	errcode string
	msg     string
	err     error
}

func (e *groupError) Error() string { return e.msg }
func (e *groupError) Unwrap() error { return e.err }

// classifyGroupError turns whatsmeow's answer to a group or invite link request into a groupError.
func classifyGroupError(err error) *groupError {
	ge := func(status int, errcode, msg string) *groupError {
		return &groupError{status: status, errcode: errcode, msg: msg, err: err}
	}
	switch {
	case errors.Is(err, whatsmeow.ErrInviteLinkRevoked):
		return ge(http.StatusGone, errcodeInviteLinkRevoked, "This invite link was reset by a group admin and no longer works")
	case errors.Is(err, whatsmeow.ErrInviteLinkInvalid):
		return ge(http.StatusNotFound, errcodeInviteLinkInvalid, "WhatsApp does not know this invite link")
	case errors.Is(err, whatsmeow.ErrGroupInviteLinkUnauthorized):
		return ge(http.StatusForbidden, errcodeNotGroupAdmin, "Only admins of the group can get or reset its invite link")
	case errors.Is(err, whatsmeow.ErrGroupNotFound):
		return ge(http.StatusNotFound, errcodeGroupNotFound, "WhatsApp does not know this group")
	case errors.Is(err, whatsmeow.ErrNotInGroup):
		return ge(http.StatusForbidden, errcodeNotInGroup, "You are not a member of this group")
	case errors.Is(err, whatsapp.ErrNotLoggedIn), errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsmeow.ErrNotLoggedIn):
		return ge(http.StatusConflict, errcodeNotLoggedIn, "Not connected to WhatsApp")
	case portal.IsRateLimited(err):
		return ge(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "WhatsApp is limiting group requests; try again in a minute")
	default:
		return ge(http.StatusBadGateway, errcodeWhatsApp, "WhatsApp refused: "+err.Error())
	}
}

// connectedClient returns the user's WhatsApp client if it is logged in, else ErrNotLoggedIn.
func connectedClient(user *Account) (*whatsmeow.Client, error) {
	cli := user.wa.Client()
	if cli == nil || user.WAJID().IsEmpty() || !cli.IsLoggedIn() {
		return nil, whatsapp.ErrNotLoggedIn
	}
	return cli, nil
}

// joinedGroup is the outcome of joining a group by link.
type joinedGroup struct {
	JID    types.JID
	Name   string
	RoomID id.RoomID
	// Already is set when the user was a member before.
	Already bool
}

// joinGroupByLink joins the group behind an invite link (see parseInviteLink for the forms) and
// makes sure its portal room exists with the user invited. Errors are *groupError.
func (br *Bridge) joinGroupByLink(ctx context.Context, user *Account, link string) (*joinedGroup, error) {
	code, ok := parseInviteLink(link)
	if !ok {
		return nil, &groupError{status: http.StatusBadRequest, errcode: "M_INVALID_PARAM",
			msg: fmt.Sprintf("%q is not a WhatsApp invite link (https://chat.whatsapp.com/…)", link)}
	}
	cli, err := connectedClient(user)
	if err != nil {
		return nil, classifyGroupError(err)
	}
	info, err := cli.GetGroupInfoFromLink(ctx, code)
	if err != nil {
		return nil, classifyGroupError(err)
	}
	out := &joinedGroup{JID: info.JID, Name: info.Name}
	own := user.WAJID()
	for _, p := range info.Participants {
		if p.PhoneNumber.User == own.User || p.JID.User == own.User {
			out.Already = true
		}
	}
	jid, err := cli.JoinGroupWithLink(ctx, code)
	if err != nil {
		return nil, classifyGroupError(err)
	}
	out.JID = jid
	zerolog.Ctx(ctx).Info().Stringer("chat", jid).Bool("already_member", out.Already).Msg("Joined WhatsApp group by invite link")
	login := userLogin{user}
	if err = br.portals.EnsureRoom(ctx, login, jid); err != nil {
		return out, fmt.Errorf("joined the group, but its room could not be created: %w", err)
	}
	out.RoomID, err = br.portals.RoomOfChat(ctx, login, jid)
	return out, err
}

// groupInviteLink returns the invite link of a group the user administers; reset revokes the old
// link first. Errors are *groupError.
func groupInviteLink(ctx context.Context, user *Account, jid types.JID, reset bool) (string, error) {
	cli, err := connectedClient(user)
	if err != nil {
		return "", classifyGroupError(err)
	}
	link, err := cli.GetGroupInviteLink(ctx, jid, reset)
	if err != nil {
		return "", classifyGroupError(err)
	}
	if reset {
		zerolog.Ctx(ctx).Info().Stringer("chat", jid).Msg("Reset WhatsApp group invite link")
	}
	return link, nil
}

// cmdJoin joins a WhatsApp group by its invite link.
func cmdJoin(ctx context.Context, ce *commandEvent) {
	if len(ce.args) != 1 {
		ce.reply(ctx, "Usage: `%sjoin <https://chat.whatsapp.com/…>`", ce.prefix())
		return
	}
	joined, err := ce.br.joinGroupByLink(ctx, ce.user, ce.args[0])
	var ge *groupError
	switch {
	case errors.As(err, &ge):
		ce.reply(ctx, "Could not join the group: %s.", ge.msg)
	case err != nil:
		zerolog.Ctx(ctx).Err(err).Msg("Failed to set up the room of a joined group")
		ce.reply(ctx, "You joined the group on WhatsApp, but its room could not be created: %v", err)
	case joined.Already:
		ce.reply(ctx, "You are already in the WhatsApp group %q; its room is [%s](%s).", joined.Name, joined.RoomID, joined.RoomID.URI().MatrixToURL())
	default:
		ce.reply(ctx, "You joined the WhatsApp group %q; you have been invited to its room [%s](%s).", joined.Name, joined.RoomID, joined.RoomID.URI().MatrixToURL())
	}
}

// cmdInviteLink shows (or with "reset" renews) the invite link of the group whose room the
// command is sent in.
func cmdInviteLink(ctx context.Context, ce *commandEvent) {
	usage := fmt.Sprintf("Send `%s invite-link [reset]` in the room of a WhatsApp group to get its invite link, or to revoke it and get a new one.", ce.br.Config.Bridge.CommandPrefix)
	if ce.isManagement {
		ce.reply(ctx, "%s", usage)
		return
	} else if len(ce.args) > 1 || (len(ce.args) == 1 && strings.ToLower(ce.args[0]) != "reset") {
		ce.reply(ctx, "Usage: `%s invite-link [reset]`: the group's invite link; with reset, the old link stops working and you get a new one.",
			ce.br.Config.Bridge.CommandPrefix)
		return
	}
	p, err := ce.br.portals.GetByMXID(ctx, ce.roomID)
	if err != nil {
		ce.reply(ctx, "Failed to look up this room: %v", err)
		return
	}
	if p == nil || !p.IsGroup() {
		ce.reply(ctx, "This room is not a WhatsApp group. %s", usage)
		return
	}
	reset := len(ce.args) == 1
	link, err := groupInviteLink(ctx, ce.user, p.Key.JID, reset)
	switch {
	case err != nil:
		ce.reply(ctx, "Could not get the invite link: %s.", err.Error())
	case reset:
		ce.reply(ctx, "The old invite link no longer works. The new one: %s", link)
	default:
		ce.reply(ctx, "Invite link of this group: %s", link)
	}
}
