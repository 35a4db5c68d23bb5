package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const (
	// DefaultWait bounds the Wait helpers when their context has no deadline.
	DefaultWait = 30 * time.Second
	// scanLimit is how many of the latest events WaitForMessage looks through on each check.
	scanLimit = 500
	// longPoll is the longest single /sync wait between two checks.
	longPoll = 5 * time.Second
)

// WaitForMessage waits until the timeline of roomID, as client sees it, holds an event for which
// match returns true, and returns the newest such event with its content parsed. It looks at the
// latest 500 events, including those sent before the call, so match should pick out the event it
// expects precisely (a unique body, a sender, a relation). The test fails at ctx's deadline
// (DefaultWait when ctx has none), with the latest events in the message.
func (e *Env) WaitForMessage(ctx context.Context, client *mautrix.Client, roomID id.RoomID, match func(*event.Event) bool) *event.Event {
	e.t.Helper()
	found := e.WaitForMessages(ctx, client, roomID, 1, match)
	return found[len(found)-1]
}

// WaitForMessages waits until at least n events of roomID's latest 500 match, and returns all the
// matching ones, oldest first, with their content parsed. Otherwise it behaves as WaitForMessage.
func (e *Env) WaitForMessages(ctx context.Context, client *mautrix.Client, roomID id.RoomID, n int, match func(*event.Event) bool) []*event.Event {
	e.t.Helper()
	var found, seen []*event.Event
	e.waitFor(ctx, client, func(ctx context.Context) (bool, error) {
		events, err := Timeline(ctx, client, roomID, scanLimit)
		if err != nil {
			return false, err
		}
		seen = events
		found = found[:0]
		for _, evt := range events {
			if match(evt) {
				found = append(found, evt)
			}
		}
		return len(found) >= n, nil
	}, func() string {
		return fmt.Sprintf("%d of %d matching events in %s as seen by %s; latest events:\n%s",
			len(found), n, roomID, client.UserID, describeEvents(seen, 15))
	})
	return found
}

// WaitForJoin waits until userID is a joined member of roomID as client sees it. The test fails at
// ctx's deadline (DefaultWait when ctx has none).
func (e *Env) WaitForJoin(ctx context.Context, client *mautrix.Client, roomID id.RoomID, userID id.UserID) {
	e.t.Helper()
	var members []id.UserID
	e.waitFor(ctx, client, func(ctx context.Context) (bool, error) {
		resp, err := client.JoinedMembers(ctx, roomID)
		if err != nil {
			return false, err
		}
		members = members[:0]
		for member := range resp.Joined {
			members = append(members, member)
		}
		_, joined := resp.Joined[userID]
		return joined, nil
	}, func() string {
		return fmt.Sprintf("%s did not join %s; joined members: %v", userID, roomID, members)
	})
}

// Timeline returns up to limit of the latest timeline events of roomID (state changes included), oldest
// first, with their content parsed.
func Timeline(ctx context.Context, client *mautrix.Client, roomID id.RoomID, limit int) ([]*event.Event, error) {
	var events []*event.Event
	from := ""
	for len(events) < limit {
		resp, err := client.Messages(ctx, roomID, from, "", mautrix.DirectionBackward, nil, min(100, limit-len(events)))
		if err != nil {
			return nil, fmt.Errorf("failed to read messages of %s: %w", roomID, err)
		}
		events = append(events, resp.Chunk...)
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			break
		}
		from = resp.End
	}
	slices.Reverse(events)
	for _, evt := range events {
		evt.RoomID = roomID
		_ = evt.Content.ParseRaw(evt.Type)
	}
	return events, nil
}

// WaitForInvite waits until client has a pending invite sent by inviter (any inviter when empty) and
// returns the room. Rooms in skip are ignored, so a test can wait for a second invite from the same
// sender. The test fails at ctx's deadline (DefaultWait when ctx has none).
func (e *Env) WaitForInvite(ctx context.Context, client *mautrix.Client, inviter id.UserID, skip ...id.RoomID) id.RoomID {
	e.t.Helper()
	var found id.RoomID
	var pending []string
	e.waitFor(ctx, client, func(ctx context.Context) (bool, error) {
		resp, err := client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: activityFilter})
		if err != nil {
			return false, err
		}
		pending = pending[:0]
		for roomID, room := range resp.Rooms.Invite {
			for _, evt := range room.State.Events {
				if evt.Type != event.StateMember || evt.GetStateKey() != client.UserID.String() {
					continue
				}
				pending = append(pending, fmt.Sprintf("%s from %s", roomID, evt.Sender))
				if (inviter == "" || evt.Sender == inviter) && !slices.Contains(skip, roomID) {
					found = roomID
				}
			}
		}
		return found != "", nil
	}, func() string {
		return fmt.Sprintf("%s got no invite from %q; pending invites: %v", client.UserID, inviter, pending)
	})
	return found
}

// RecentTimeline returns up to limit of the latest m.room.message events of roomID (edits
// included), oldest first, with their content parsed, and whether the room holds older ones
// (limited), as a client that logs in afresh gets them:
// from an initial /sync restricted to the room, which Dendrite answers from its stream order in
// one read. Unlike Timeline it does not page through /messages, whose backward paging on Dendrite
// can skip events that share a depth (two senders writing at the same moment).
func RecentTimeline(ctx context.Context, client *mautrix.Client, roomID id.RoomID, limit int) (events []*event.Event, limited bool, err error) {
	filter, err := json.Marshal(map[string]any{
		"room": map[string]any{
			"rooms":        []id.RoomID{roomID},
			"timeline":     map[string]any{"limit": limit, "types": []event.Type{event.EventMessage}},
			"state":        map[string]any{"types": []string{}, "lazy_load_members": true},
			"ephemeral":    map[string]any{"not_types": []string{"*"}},
			"account_data": map[string]any{"not_types": []string{"*"}},
		},
		"presence":     map[string]any{"not_types": []string{"*"}},
		"account_data": map[string]any{"not_types": []string{"*"}},
	})
	if err != nil {
		return nil, false, err
	}
	resp, err := client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: string(filter)})
	if err != nil {
		return nil, false, fmt.Errorf("failed to read the latest events of %s: %w", roomID, err)
	}
	room, ok := resp.Rooms.Join[roomID]
	if !ok {
		return nil, false, fmt.Errorf("%s is not among the rooms %s has joined", roomID, client.UserID)
	}
	events = room.Timeline.Events
	for _, evt := range events {
		evt.RoomID = roomID
		_ = evt.Content.ParseRaw(evt.Type)
	}
	return events, room.Timeline.Limited, nil
}
