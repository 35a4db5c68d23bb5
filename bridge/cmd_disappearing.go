package bridge

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// cmdDisappearing changes the disappearing-messages timer of the chat whose room the command is
// sent in. The portal posts the change; only failures are answered here.
func cmdDisappearing(ctx context.Context, ce *commandEvent) {
	if ce.isManagement {
		ce.reply(ctx, "Send `%s disappearing <off|24h|7d|90d>` in the room of a WhatsApp chat to change how long its new messages last.",
			ce.br.Config.Bridge.CommandPrefix)
		return
	} else if len(ce.args) != 1 {
		ce.reply(ctx, "Usage: `%s disappearing <off|24h|7d|90d>`: how long new messages in this chat last on WhatsApp (off: for ever).",
			ce.br.Config.Bridge.CommandPrefix)
		return
	}
	timer, err := msgconv.ParseDisappearingTimer(ce.args[0])
	if err != nil {
		ce.reply(ctx, "%s.", err.Error())
		return
	}
	err = ce.br.portals.SetDisappearingTimer(ctx, ce.roomID, ce.user.MXID, timer, ce.eventID)
	switch {
	case err == nil:
	case errors.Is(err, portal.ErrTimerUnchanged) && timer == 0:
		ce.reply(ctx, "Disappearing messages are already off in this chat.")
	case errors.Is(err, portal.ErrTimerUnchanged):
		ce.reply(ctx, "Disappearing messages are already on in this chat: new messages last %s.", msgconv.DescribeDisappearingTimer(timer))
	case errors.Is(err, portal.ErrNotAPortal), errors.Is(err, portal.ErrNotLoggedIn):
		ce.reply(ctx, "Disappearing messages were not changed: %s.", err.Error())
	case errors.Is(err, portal.ErrNotConnected):
		ce.reply(ctx, "Disappearing messages were not changed: you are not connected to WhatsApp right now. Try again when `status` says you are.")
	default:
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to change disappearing timer")
		ce.reply(ctx, "Disappearing messages were not changed: %s.", err.Error())
	}
}
