package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// watchFilter asks /sync for every new timeline event (a limit high enough that a busy room's
// timeline is never cut between two polls) and nothing else a watcher does not read.
const watchFilter = `{"room":{"timeline":{"limit":1000,"types":["m.room.message"]},"state":{"lazy_load_members":true,"types":[]},"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}`

// Watcher follows one Matrix user's /sync from the moment it was made and records when each
// message body first arrived, and every room's m.room.message events in the order /sync delivered
// them: what a client sees, read the way a client reads it (a long poll), without paging back
// through any room. Benchmarks measure arrival times with it; the fault suite judges order and
// completeness by it.
type Watcher struct {
	client *mautrix.Client
	cancel context.CancelFunc
	done   chan struct{}
	// autoJoin, when set, joins every room the user is invited to by one of these senders.
	autoJoin func(inviter id.UserID) bool

	lock    sync.Mutex
	arrived map[string]time.Time
	rooms   map[string]id.RoomID
	joined  map[id.RoomID]bool
	// timelines holds each room's message events in arrival order; gaps counts the /sync answers
	// whose timeline for the room was cut (limited: events between two polls left out).
	timelines map[id.RoomID][]*event.Event
	seen      map[id.RoomID]map[id.EventID]bool
	gaps      map[id.RoomID]int
	changed   chan struct{}
	err       error
}

// NewWatcher starts following client's /sync from its current position until the test ends. When
// autoJoin is not nil, the watcher joins every room whose invite autoJoin accepts (by inviter).
func (e *Env) NewWatcher(client *mautrix.Client, autoJoin func(inviter id.UserID) bool) *Watcher {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	since, err := syncPosition(ctx, client, "", 0)
	if err != nil {
		cancel()
		e.t.Fatalf("e2e: failed to take the sync position of %s: %v", client.UserID, err)
	}
	w := &Watcher{
		client: client, cancel: cancel, done: make(chan struct{}), autoJoin: autoJoin,
		arrived: make(map[string]time.Time), rooms: make(map[string]id.RoomID), joined: make(map[id.RoomID]bool),
		timelines: make(map[id.RoomID][]*event.Event), seen: make(map[id.RoomID]map[id.EventID]bool), gaps: make(map[id.RoomID]int), changed: make(chan struct{}),
	}
	e.t.Cleanup(w.Stop)
	go w.run(ctx, since)
	return w
}

// Stop ends the long poll; later arrivals are not recorded.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

func (w *Watcher) run(ctx context.Context, since string) {
	defer close(w.done)
	for ctx.Err() == nil {
		resp, err := w.client.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: int(longPoll.Milliseconds()), Since: since, FilterID: watchFilter})
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				w.lock.Lock()
				w.err = err
				w.lock.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(retryPause):
				}
			}
			continue
		}
		since = resp.NextBatch
		w.lock.Lock()
		for roomID, room := range resp.Rooms.Join {
			w.joined[roomID] = true
			if room.Timeline.Limited {
				// The answer left out events between the last poll and its first event: read them
				// as a client does, back from the timeline's prev_batch to the last event seen.
				w.lock.Unlock()
				missed, closed := w.fillGap(ctx, roomID, room.Timeline.PrevBatch)
				w.lock.Lock()
				if !closed {
					w.gaps[roomID]++
				}
				w.record(roomID, missed)
			}
			w.record(roomID, room.Timeline.Events)
			for _, evt := range room.Timeline.Events {
				body, _ := evt.Content.Raw["body"].(string)
				if evt.Type != event.EventMessage || body == "" {
					continue
				}
				if _, seen := w.arrived[body]; !seen {
					w.arrived[body] = now
					w.rooms[body] = roomID
				}
			}
		}
		changed := w.changed
		w.changed = make(chan struct{})
		w.lock.Unlock()
		close(changed)
		if w.autoJoin != nil {
			for roomID, room := range resp.Rooms.Invite {
				for _, evt := range room.State.Events {
					if evt.Type == event.StateMember && evt.StateKey != nil && *evt.StateKey == string(w.client.UserID) && w.autoJoin(evt.Sender) {
						go func() { _, _ = w.client.JoinRoomByID(ctx, roomID) }()
					}
				}
			}
		}
	}
}

// record appends the room's message events to its timeline, skipping any already recorded
// (caller holds lock).
func (w *Watcher) record(roomID id.RoomID, events []*event.Event) {
	if w.seen[roomID] == nil {
		w.seen[roomID] = make(map[id.EventID]bool)
	}
	for _, evt := range events {
		evt.RoomID = roomID
		if evt.Type != event.EventMessage || w.seen[roomID][evt.ID] {
			continue
		}
		_ = evt.Content.ParseRaw(evt.Type) // unparsable content stays raw, as a client shows it
		w.seen[roomID][evt.ID] = true
		w.timelines[roomID] = append(w.timelines[roomID], evt)
	}
}

// gapPages bounds how far back fillGap reads (pages of 100 events).
const gapPages = 20

// fillGap reads roomID's events back from the token from (a cut timeline's prev_batch) until an
// event the watcher recorded already, and returns the events after it, oldest first. closed is
// false when it could not get there (no token, a failed read, the room's beginning or gapPages
// reached first): events may still be missing then.
func (w *Watcher) fillGap(ctx context.Context, roomID id.RoomID, from string) (missed []*event.Event, closed bool) {
	if from == "" {
		return nil, false
	}
	w.lock.Lock()
	known := maps.Clone(w.seen[roomID])
	w.lock.Unlock()
	if len(known) == 0 {
		return nil, false
	}
	for range gapPages {
		resp, err := w.client.Messages(ctx, roomID, from, "", mautrix.DirectionBackward, nil, 100)
		if err != nil || resp == nil {
			return nil, false
		}
		for _, evt := range resp.Chunk {
			if known[evt.ID] {
				slices.Reverse(missed)
				return missed, true
			}
			missed = append(missed, evt)
		}
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			return nil, false
		}
		from = resp.End
	}
	return nil, false
}

// Arrived returns when a message with this body first reached the client, and its room.
func (w *Watcher) Arrived(body string) (time.Time, id.RoomID, bool) {
	w.lock.Lock()
	defer w.lock.Unlock()
	at, ok := w.arrived[body]
	return at, w.rooms[body], ok
}

// RoomTimeline returns the room's m.room.message events (edits included) in the order /sync
// delivered them since the watcher started, and how many /sync answers cut the room's timeline in
// a way the watcher could not mend (when gaps > 0, events between two polls may be missing from
// the list). A cut timeline (limited) is mended by reading the room back from the answer's
// prev_batch to the last event seen, as a client fills such a gap. The events are shared:
// callers must not change them.
func (w *Watcher) RoomTimeline(roomID id.RoomID) (events []*event.Event, gaps int) {
	w.lock.Lock()
	defer w.lock.Unlock()
	return slices.Clone(w.timelines[roomID]), w.gaps[roomID]
}

// Joined reports whether the client's /sync has shown the room as joined.
func (w *Watcher) Joined(roomID id.RoomID) bool {
	w.lock.Lock()
	defer w.lock.Unlock()
	return w.joined[roomID]
}

// Wait blocks until cond (called with the watcher's lock not held) holds after some /sync answer,
// or ctx ends (then it returns ctx's error and the last sync error, if any).
func (w *Watcher) Wait(ctx context.Context, cond func() bool) error {
	for {
		w.lock.Lock()
		changed := w.changed
		w.lock.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			w.lock.Lock()
			defer w.lock.Unlock()
			if w.err != nil {
				return fmt.Errorf("%w (last /sync error: %v)", ctx.Err(), w.err)
			}
			return ctx.Err()
		case <-changed:
		}
	}
}

// WaitBodies waits until every body has arrived and returns the arrival times in the same order.
func (w *Watcher) WaitBodies(ctx context.Context, bodies []string) ([]time.Time, error) {
	times := make([]time.Time, len(bodies))
	missing := 0
	err := w.Wait(ctx, func() bool {
		missing = 0
		for i, body := range bodies {
			at, _, ok := w.Arrived(body)
			if !ok {
				missing++
			}
			times[i] = at
		}
		return missing == 0
	})
	if err != nil {
		return times, fmt.Errorf("%d of %d messages never reached %s: %w", missing, len(bodies), w.client.UserID, err)
	}
	return times, nil
}
