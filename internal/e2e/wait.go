package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// activityFilter keeps /sync answers small: the helpers use /sync only to learn that something
// happened, and read what happened with other requests.
const activityFilter = `{"room":{"timeline":{"limit":1},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}`

// retryPause is the pause after a failed request before checking again.
const retryPause = 100 * time.Millisecond

// waitFor runs check until it reports done, waking up whenever client's /sync reports activity (a
// long poll, so there is no fixed sleep). At the deadline the test fails with describe's text.
func (e *Env) waitFor(ctx context.Context, client *mautrix.Client, check func(ctx context.Context) (bool, error), describe func() string) {
	e.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	// Take the sync position before the first check, so that whatever happens after the check
	// ends the next long poll at once.
	since, _ := syncPosition(ctx, client, "", 0)
	var lastErr error
	for {
		done, err := check(ctx)
		if done {
			return
		}
		if err != nil {
			lastErr = err
		}
		if ctx.Err() != nil {
			break
		}
		next, syncErr := syncPosition(ctx, client, since, longPoll)
		if syncErr != nil {
			select {
			case <-ctx.Done():
			case <-time.After(retryPause):
			}
		} else {
			since = next
		}
		if ctx.Err() != nil {
			// One last look: the deadline may have cut a wait for something that just arrived.
			if done, _ = check(context.WithoutCancel(ctx)); done {
				return
			}
			break
		}
	}
	msg := describe()
	if lastErr != nil {
		msg += fmt.Sprintf("\nlast error: %v", lastErr)
	}
	e.t.Fatalf("e2e: %s: %s%s", ctx.Err(), msg, e.processProblems())
}

// syncPosition long-polls /sync from since for up to wait and returns the next position.
func syncPosition(ctx context.Context, client *mautrix.Client, since string, wait time.Duration) (string, error) {
	resp, err := client.FullSyncRequest(ctx, mautrix.ReqSync{
		Timeout:  int(wait.Milliseconds()),
		Since:    since,
		FilterID: activityFilter,
	})
	if err != nil {
		return since, err
	}
	return resp.NextBatch, nil
}

// describeEvents lists the last n events, one line each, for failure messages.
func describeEvents(events []*event.Event, n int) string {
	if len(events) > n {
		events = events[len(events)-n:]
	}
	if len(events) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, evt := range events {
		fmt.Fprintf(&b, "  %s %s from %s", evt.ID, evt.Type.Type, evt.Sender)
		if evt.StateKey != nil {
			fmt.Fprintf(&b, " state_key=%q", *evt.StateKey)
		}
		if body, ok := evt.Content.Raw["body"].(string); ok {
			fmt.Fprintf(&b, " body=%q", body)
		}
		if membership, ok := evt.Content.Raw["membership"].(string); ok {
			fmt.Fprintf(&b, " membership=%s", membership)
		}
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}
