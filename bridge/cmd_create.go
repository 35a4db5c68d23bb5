package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// cmdCreate creates a WhatsApp group from the room the command is sent in: named like the room,
// with the contacts whose ghosts are joined or invited, and makes the room the group's portal.
func cmdCreate(ctx context.Context, ce *commandEvent) {
	if ce.isManagement {
		ce.reply(ctx, "Send `%s create` in a room with a name and the contacts' ghosts invited: it becomes a new WhatsApp group with those contacts.",
			ce.br.Config.Bridge.CommandPrefix)
		return
	}
	if p, err := ce.br.DB.Portal.GetByMXID(ctx, ce.roomID); err == nil && p != nil {
		// Checked first: naming the room would not help.
		ce.reply(ctx, "The group was not created: %s.", portal.ErrAlreadyPortal.Error())
		return
	}
	bot := ce.br.AS.BotClient()
	var name event.RoomNameEventContent
	if err := bot.StateEvent(ctx, ce.roomID, event.StateRoomName, "", &name); err != nil || strings.TrimSpace(name.Name) == "" {
		ce.reply(ctx, "The group was not created: give the room a name first (a WhatsApp group needs one, of at most %d characters).", portal.MaxGroupNameLength)
		return
	}
	contacts, err := ce.br.roomContacts(ctx, ce.roomID)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to read room members")
		ce.reply(ctx, "The group was not created: the room's members could not be read (%v).", err)
		return
	} else if len(contacts) == 0 {
		ce.reply(ctx, "The group was not created: invite the ghosts of the contacts who should be in it first.")
		return
	}
	info, err := ce.br.portals.CreateGroup(ctx, ce.roomID, ce.user.MXID, strings.TrimSpace(name.Name), contacts)
	switch {
	case err == nil:
	case errors.Is(err, portal.ErrAlreadyPortal), errors.Is(err, portal.ErrNotLoggedIn):
		ce.reply(ctx, "The group was not created: %s.", err.Error())
		return
	case errors.Is(err, portal.ErrNotConnected):
		ce.reply(ctx, "The group was not created: you are not connected to WhatsApp right now. Try again when `status` says you are.")
		return
	case errors.Is(err, whatsmeow.ErrIQNotAcceptable):
		ce.reply(ctx, "The group was not created: the name is too long (WhatsApp allows %d characters).", portal.MaxGroupNameLength)
		return
	default:
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to create WhatsApp group")
		ce.reply(ctx, "The group was not created: %s.", err.Error())
		return
	}
	var refused []string
	for _, part := range info.Participants {
		if part.Error != 0 {
			number := part.PhoneNumber
			if number.IsEmpty() {
				number = part.JID
			}
			refused = append(refused, "+"+number.User+" "+portal.ParticipantRefusal(part.Error))
		}
	}
	added := len(contacts) - len(refused)
	msg := fmt.Sprintf("Created the WhatsApp group **%s** with %s; this room is its chat now.", info.Name, plural(added, "contact"))
	if len(refused) > 0 {
		msg += " Not added: " + strings.Join(refused, "; ") + "."
	}
	if level, lacks := ce.br.portals.BotLacksPower(ctx, ce.roomID); lacks {
		msg += fmt.Sprintf(" Give the bridge bot power level 100 in this room (it has %d): without it, changes made on WhatsApp (name, members, admins) are not shown here and changes WhatsApp refuses cannot be undone.", level)
	}
	ce.reply(ctx, "%s", msg)
}

// acceptGroupInvite makes an invited ghost join a room that is not a portal, where the create
// command can make a group of it.
func (br *Bridge) acceptGroupInvite(ctx context.Context, ghostID id.UserID, roomID id.RoomID) error {
	ghost, err := br.puppets.GetByMXID(ctx, ghostID)
	if err != nil || ghost == nil {
		return err
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	if _, err = ghost.Intent().JoinRoomByID(ctx, roomID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Stringer("ghost", ghostID).Msg("Ghost failed to accept invite")
	}
	return nil
}

// roomContacts returns the WhatsApp contacts whose ghosts are joined or invited in roomID.
func (br *Bridge) roomContacts(ctx context.Context, roomID id.RoomID) ([]types.JID, error) {
	members, err := br.AS.BotClient().Members(ctx, roomID)
	if err != nil {
		return nil, err
	}
	var out []types.JID
	for _, evt := range members.Chunk {
		_ = evt.Content.ParseRaw(evt.Type)
		membership := evt.Content.AsMember().Membership
		if membership != event.MembershipJoin && membership != event.MembershipInvite {
			continue
		}
		if jid, ok := br.puppets.ParseMXID(id.UserID(evt.GetStateKey())); ok {
			out = append(out, jid)
		}
	}
	return out, nil
}
