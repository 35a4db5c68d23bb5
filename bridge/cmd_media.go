package bridge

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// cmdRequestMedia asks the user's phone to upload again the attachment whose expired-media notice
// the command replies to. The file replaces the notice when the phone answers; only failures are
// answered here.
func cmdRequestMedia(ctx context.Context, ce *commandEvent) {
	if ce.isManagement || ce.replyTo == "" {
		ce.reply(ctx, "Reply with `%s request-media` to the notice of media WhatsApp no longer has, in the chat's room, to ask your phone to upload it again.",
			ce.br.Config.Bridge.CommandPrefix)
		return
	}
	err := ce.br.portals.RequestMedia(ctx, ce.roomID, ce.user.MXID, ce.replyTo)
	switch {
	case err == nil:
	case errors.Is(err, portal.ErrNotAPortal), errors.Is(err, portal.ErrNotLoggedIn), errors.Is(err, portal.ErrNoExpiredMedia):
		ce.reply(ctx, "The media was not requested: %s.", err.Error())
	case errors.Is(err, portal.ErrNotConnected):
		ce.reply(ctx, "The media was not requested: you are not connected to WhatsApp right now. Try again when `status` says you are.")
	default:
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to request expired media")
		ce.reply(ctx, "The media was not requested: %s.", err.Error())
	}
}
