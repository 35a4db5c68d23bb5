package bridge

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// cmdSetRelay makes the sender's WhatsApp account the relay of the portal the command is sent in:
// messages of Matrix users without a login are sent through it (portal/relay.go).
func cmdSetRelay(ctx context.Context, ce *commandEvent) {
	setRelay(ctx, ce, true)
}

// cmdUnsetRelay turns relaying off in the portal the command is sent in.
func cmdUnsetRelay(ctx context.Context, ce *commandEvent) {
	setRelay(ctx, ce, false)
}

// relayRefusal is why a user of the given permission level may not run set-relay or unset-relay
// here, or "" when they may.
func relayRefusal(cfg *config.Config, level int, isManagement bool, command string) string {
	relay := cfg.Bridge.Relay
	switch {
	case !relay.Enabled:
		return "Relay mode is turned off on this bridge (`bridge.relay.enabled` in the config)."
	case relay.IsAdminOnly() && level < config.LevelAdmin:
		return "Only bridge admins may change the relay on this bridge (`bridge.relay.admin_only`)."
	case isManagement:
		return "Send `" + cfg.Bridge.CommandPrefix + " " + command + "` in the room of a WhatsApp chat."
	}
	return ""
}

func setRelay(ctx context.Context, ce *commandEvent, on bool) {
	if why := relayRefusal(ce.br.Config, ce.user.PermissionLevel(), ce.isManagement, ce.command); why != "" {
		ce.reply(ctx, "%s", why)
		return
	}
	err := ce.br.portals.SetRelay(ctx, ce.roomID, ce.user.MXID, on)
	switch {
	case err == nil && on:
		ce.reply(ctx, "Messages of Matrix users without a WhatsApp login in this room are now sent through your WhatsApp account (%s), with their name in front.",
			formatPhone(ce.user.WAJID().User))
	case err == nil:
		ce.reply(ctx, "Relaying is off in this room: only users logged in to WhatsApp are bridged.")
	case errors.Is(err, portal.ErrNotAPortal), errors.Is(err, portal.ErrNotLoggedIn), errors.Is(err, portal.ErrRelayInDM),
		errors.Is(err, portal.ErrNotChatOwner), errors.Is(err, portal.ErrRelayDisabled), errors.Is(err, portal.ErrStatusRoomReadOnly):
		ce.reply(ctx, "The relay was not changed: %s.", err.Error())
	default:
		zerolog.Ctx(ctx).Err(err).Msg("Failed to change relay")
		ce.reply(ctx, "The relay was not changed: %v", err)
	}
}
