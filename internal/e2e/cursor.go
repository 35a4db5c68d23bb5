package e2e

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Cursor reads one room's events forward from the position it was made at, so that waiting for the
// next messages costs the homeserver only the new events. WaitForMessages re-reads the latest 500
// events on every check, which is fine for a test's short room but makes a benchmark's wait grow
// with the room; benchmarks wait through a cursor.
type Cursor struct {
	env    *Env
	client *mautrix.Client
	roomID id.RoomID
	// from is the /messages token of the next event to read (a /sync next_batch at first, which the
	// client-server API accepts as a pagination token: spec section "GET /rooms/{roomId}/messages").
	from string
	seen map[id.EventID]bool
}

// NewCursor returns a cursor at the room's current end as client sees it: events sent from now on
// are read, earlier ones never. The test fails when the homeserver cannot be reached.
func (e *Env) NewCursor(ctx context.Context, client *mautrix.Client, roomID id.RoomID) *Cursor {
	e.t.Helper()
	since, err := syncPosition(ctx, client, "", 0)
	if err != nil {
		e.t.Fatalf("e2e: failed to take the sync position of %s: %v", client.UserID, err)
	}
	return &Cursor{env: e, client: client, roomID: roomID, from: since, seen: make(map[id.EventID]bool)}
}

// WaitFor reads forward until at least n of the events not read by this cursor before match, and
// returns the matching ones in timeline order with their content parsed (more than n when a page
// held more). Events it read are not read again by later calls. The test fails at ctx's deadline
// (DefaultWait when ctx has none).
func (c *Cursor) WaitFor(ctx context.Context, n int, match func(*event.Event) bool) []*event.Event {
	c.env.t.Helper()
	var found []*event.Event
	read := 0
	c.env.waitFor(ctx, c.client, func(ctx context.Context) (bool, error) {
		for {
			resp, err := c.client.Messages(ctx, c.roomID, c.from, "", mautrix.DirectionForward, nil, 100)
			if err != nil {
				return false, fmt.Errorf("failed to read messages of %s: %w", c.roomID, err)
			}
			for _, evt := range resp.Chunk {
				// At the end of the timeline a homeserver may return the last page again with the
				// same token: skip what was read.
				if c.seen[evt.ID] {
					continue
				}
				c.seen[evt.ID] = true
				read++
				evt.RoomID = c.roomID
				_ = evt.Content.ParseRaw(evt.Type)
				if match(evt) {
					found = append(found, evt)
				}
			}
			advanced := resp.End != "" && resp.End != c.from
			if advanced {
				c.from = resp.End
			}
			if len(found) >= n {
				return true, nil
			}
			if len(resp.Chunk) == 0 || !advanced {
				return false, nil
			}
		}
	}, func() string {
		return fmt.Sprintf("%d of %d matching events among the %d new events of %s as seen by %s",
			len(found), n, read, c.roomID, c.client.UserID)
	})
	return found
}
