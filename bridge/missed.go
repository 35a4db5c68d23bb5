package bridge

import (
	"time"

	"github.com/rs/zerolog"
)

// runGiveUp gives up, every so often, on undecryptable messages nobody resent within
// bridge.undecryptable_wait (portal.Manager.GiveUpPlaceholders): their rooms are told how many
// messages from when could not be brought over.
func (br *Bridge) runGiveUp() {
	defer br.wg.Done()
	wait := br.Config.Bridge.UndecryptableTimeout()
	if wait == 0 {
		return
	}
	period := min(max(wait/4, time.Second), time.Minute)
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	log := br.Log.With().Str("component", "undecryptable").Logger()
	ctx := log.WithContext(br.ctx)
	for {
		select {
		case <-br.ctx.Done():
			return
		case <-ticker.C:
		}
		n, err := br.portals.GiveUpPlaceholders(ctx, time.Now().Add(-wait))
		if err != nil && br.ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to give up on undecryptable messages")
		} else if n > 0 {
			zerolog.Ctx(ctx).Info().Int("messages", n).Msg("Reported undecryptable messages nobody resent")
		}
	}
}
