package portal

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A change WhatsApp refused is undone in the room by the bot. In a room the bot does not rule (one
// adopted by the create command keeps the power levels its creator gave it, where the bot often has
// 0), undoing fails with M_FORBIDDEN: the notice then says so, and what level the bot needs, instead
// of claiming the change was undone.

// undoOutcome ends a notice about a refused change: done (e.g. "so it was changed back here") when
// undoErr is nil, otherwise why it could not be undone. needLevel picks from the room's power levels
// the level the undo needs.
func (p *Portal) undoOutcome(ctx context.Context, undoErr error, done, what string, needLevel func(*event.PowerLevelsEventContent) int) string {
	if undoErr == nil {
		return done
	}
	zerolog.Ctx(ctx).Warn().Err(undoErr).Msg("Failed to undo refused change in the room")
	levels, err := p.m.matrix.PowerLevels(ctx, p.row.MXID)
	if err == nil {
		have, need := levels.GetUserLevel(p.m.matrix.BotMXID()), needLevel(levels)
		if have < need {
			return fmt.Sprintf("but %s could not be undone here: the bridge bot has power level %d in this room and needs %d. "+
				"Give the bot power level %d so that the room can follow the WhatsApp group", what, have, need, powerSuperuser)
		}
	}
	return fmt.Sprintf("but %s could not be undone here either", what)
}

// stateLevel is a needLevel for sending state of type evtType.
func stateLevel(evtType event.Type) func(*event.PowerLevelsEventContent) int {
	return func(levels *event.PowerLevelsEventContent) int { return levels.GetEventLevel(evtType) }
}

// kickLevel is a needLevel for kicking a user.
func kickLevel(levels *event.PowerLevelsEventContent) int { return levels.Kick() }

// BotLacksPower returns the bot's power level in roomID and whether it is below the superuser level
// (100) the bot needs to keep a portal room in step with WhatsApp (room name, topic, avatar, members
// and their power levels). An error reading the power levels counts as not lacking.
func (m *Manager) BotLacksPower(ctx context.Context, roomID id.RoomID) (int, bool) {
	levels, err := m.matrix.PowerLevels(ctx, roomID)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to read power levels")
		return 0, false
	}
	have := levels.GetUserLevel(m.matrix.BotMXID())
	return have, have < powerSuperuser
}
