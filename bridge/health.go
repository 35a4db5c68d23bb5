package bridge

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
)

// Health endpoints on the appservice port, for process supervisors and load balancers:
//
//	GET /_matrix/mau/live   200 while the process serves HTTP at all
//	GET /_matrix/mau/ready  200 when the bridge can do its work, else 503 M_NOT_READY
//
// Both answer JSON; ready's body names each check and its result, e.g.
// {"checks":{"database":"ok","homeserver":"ok","inbox":"ok"}}. A WhatsApp login being disconnected
// does not make the bridge unready: restarting it or moving traffic away would not help, and the
// Matrix side keeps accepting messages for when WhatsApp is back.

const (
	// healthCheckTimeout bounds each readiness check (database query, homeserver request).
	healthCheckTimeout = 5 * time.Second
	// inboxStuckAfter: an inbox is stuck when its oldest pending event is older than this and no
	// pending event was even attempted for as long. Events that wait for a WhatsApp connection or
	// for the homeserver are attempted again every few seconds (at most homeserverRetryMaxDelay
	// apart), so they do not count as stuck.
	inboxStuckAfter = 5 * time.Minute
)

// inboxActivity is when the Matrix inbox last attempted an event (Unix nanoseconds).
type inboxActivity struct{ last atomic.Int64 }

func (a *inboxActivity) touch()           { a.last.Store(time.Now().UnixNano()) }
func (a *inboxActivity) since() time.Time { return time.Unix(0, a.last.Load()) }

// inboxStuck decides whether the Matrix inbox is stuck at now: pending events (oldestPending not
// zero) older than inboxStuckAfter, and no attempt since at least as long.
func inboxStuck(now, oldestPending, lastActivity time.Time) bool {
	return !oldestPending.IsZero() && now.Sub(oldestPending) > inboxStuckAfter && now.Sub(lastActivity) > inboxStuckAfter
}

// handleLive answers /_matrix/mau/live.
func (br *Bridge) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleReady answers /_matrix/mau/ready: 200 when every check passes, else 503 with
// errcode M_NOT_READY, an error naming the failed checks, and every check's result.
func (br *Bridge) handleReady(w http.ResponseWriter, r *http.Request) {
	checks, ok := br.readiness(r.Context())
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"checks": checks})
		return
	}
	failed := ""
	for name, result := range checks {
		if result != "ok" {
			if failed != "" {
				failed += ", "
			}
			failed += name
		}
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{
		"errcode": "M_NOT_READY", "error": "Bridge is not ready: " + failed, "checks": checks,
	})
}

// readiness runs the checks: started, database answers, homeserver answers and accepts the
// as_token (whoami as the bot), neither inbox (Matrix, WhatsApp) stuck. Each result is "ok"
// or what is wrong.
func (br *Bridge) readiness(ctx context.Context) (map[string]string, bool) {
	if !br.ready.Load() {
		return map[string]string{"started": "the bridge is starting"}, false
	}
	ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
	defer cancel()
	checks := map[string]string{"database": "ok", "homeserver": "ok", "inbox": "ok"}
	ok := true
	fail := func(name, problem string) {
		checks[name], ok = problem, false
	}
	now := time.Now()
	if stats, err := br.DB.Stats(ctx); err != nil {
		fail("database", err.Error())
	} else if inboxStuck(now, stats.InboxOldest, br.inboxActivity.since()) {
		fail("inbox", fmt.Sprintf("%d Matrix events pending, the oldest since %s, and none attempted since %s",
			stats.InboxPending, stats.InboxOldest.UTC().Format(time.RFC3339), br.inboxActivity.since().UTC().Format(time.RFC3339)))
	} else if inboxStuck(now, stats.WAInboxOldest, br.waInboxActivity.since()) {
		fail("inbox", fmt.Sprintf("%d WhatsApp events pending, the oldest since %s, and none attempted since %s",
			stats.WAInboxPending, stats.WAInboxOldest.UTC().Format(time.RFC3339), br.waInboxActivity.since().UTC().Format(time.RFC3339)))
	}
	if resp, err := br.AS.BotIntent().Whoami(ctx); err != nil {
		fail("homeserver", "homeserver does not answer or refuses the as_token: "+mautrixErrorText(err))
	} else if resp.UserID != br.BotMXID() {
		fail("homeserver", fmt.Sprintf("homeserver says the as_token belongs to %s", resp.UserID))
	}
	return checks, ok
}

// mautrixErrorText is an error's text without the request URL mautrix puts in it (it may carry
// the access token as a query parameter in some setups).
func mautrixErrorText(err error) string {
	if httpErr, ok := err.(mautrix.HTTPError); ok {
		if httpErr.RespError != nil {
			return httpErr.RespError.ErrCode + ": " + httpErr.RespError.Err
		}
		if httpErr.WrappedError != nil {
			return httpErr.WrappedError.Error()
		}
		return httpErr.Message
	}
	return err.Error()
}
