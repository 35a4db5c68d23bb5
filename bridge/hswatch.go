package bridge

import (
	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// Noticing a homeserver restart while the bot's sync polls.
//
// late_events.go needs to know when the homeserver was unreachable: a message whose push a stop
// cut off may be pushed late, or never. The bridge learns of an outage when one of its requests
// fails. The bot's 30-second long poll is such a request, always under way, but while the bridged
// rooms are busy the bot polls every few seconds with nothing under way in between (botsync.go),
// and a homeserver that restarts within that gap, as Dendrite does in about 0.1 s, fails none.
//
// So while the bot's sync runs, a user of the bridge's namespace that is in no room (the ghost
// namespace's "connection-check") long-polls its own /sync. No room event wakes that request, so it
// costs the homeserver two requests every botSyncTimeout (a timed-out long poll returns the
// position it was given, and Dendrite answers the next one at once with the current position);
// when the homeserver stops it fails at once, and so does the next, and the outage is noted.

// homeserverWatchMXID is the user that watches the homeserver.
func (br *Bridge) homeserverWatchMXID() id.UserID {
	return id.NewUserID(br.Config.FormatUsername(config.HomeserverWatchIdentifier), br.Config.Homeserver.Domain)
}

// runHomeserverWatch long-polls the watching user's /sync until the bridge stops and notes every
// failure (noteHomeserverFailure). Failures are retried after 1 s, doubling up to 1 min, or as soon
// as the homeserver answers again.
func (br *Bridge) runHomeserverWatch() {
	defer br.wg.Done()
	ctx := br.ctx
	log := br.Log.With().Str("component", "homeserver_watch").Logger()
	intent := br.AS.Intent(br.homeserverWatchMXID())
	retry := newHSRetry(&br.hsBack)
	failed := func(err error, what string) bool {
		if ctx.Err() != nil {
			return false
		}
		br.noteHomeserverFailure(err) // late_events.go
		level := zerolog.WarnLevel    // refused: the watch does not work until that changes
		if hserr.Unanswered(err) {
			level = zerolog.DebugLevel // the outage it is there to notice
		}
		log.WithLevel(level).Err(err).Dur("retry_in", retry.delay).Msg(what)
		return retry.wait(ctx)
	}
	for {
		retry.before()
		err := intent.EnsureRegistered(ctx)
		if err == nil {
			break
		} else if !failed(err, "Failed to register the user that watches the homeserver") {
			return
		}
	}
	var since string
	for ctx.Err() == nil {
		retry.before()
		resp, err := intent.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: botSyncTimeout, Since: since,
			FilterID: emptySyncFilter, SetPresence: event.PresenceOffline})
		if err != nil {
			if !failed(err, "The homeserver watch's sync failed") {
				return
			}
			continue
		}
		retry.succeeded()
		since = resp.NextBatch
	}
}
