package demo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// activityFilter keeps /sync answers small: the driver uses /sync only to learn that something
// happened, and reads what happened with /messages.
const activityFilter = `{"room":{"timeline":{"limit":1},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}`

// longPoll is the longest single /sync wait between two checks.
const longPoll = 5 * time.Second

// matrixSide is the demo user's Matrix client and what it knows about the bridge.
type matrixSide struct {
	client *mautrix.Client
	bot    id.UserID
}

// waitUntil runs check until it reports done or ctx ends. Between checks it long-polls /sync, so it
// wakes up as soon as anything happens in the user's rooms instead of sleeping a fixed time.
func (m *matrixSide) waitUntil(ctx context.Context, what string, check func(ctx context.Context) (bool, error)) error {
	since := ""
	if resp, err := m.sync(ctx, "", 0); err == nil {
		since = resp.NextBatch
	}
	var lastErr error
	for {
		done, err := check(ctx)
		if done {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		resp, err := m.sync(ctx, since, longPoll)
		if ctx.Err() != nil {
			if lastErr != nil {
				return fmt.Errorf("timed out waiting for %s (last error: %v)", what, lastErr)
			}
			return fmt.Errorf("timed out waiting for %s", what)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		since = resp.NextBatch
	}
}

func (m *matrixSide) sync(ctx context.Context, since string, wait time.Duration) (*mautrix.RespSync, error) {
	return m.client.FullSyncRequest(ctx, mautrix.ReqSync{
		Timeout: int(wait.Milliseconds()), Since: since, FilterID: activityFilter,
	})
}

// timeline returns up to the latest 100 events of a room, oldest first, content parsed.
func (m *matrixSide) timeline(ctx context.Context, room id.RoomID) ([]*event.Event, error) {
	resp, err := m.client.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		return nil, fmt.Errorf("failed to read messages of %s: %w", room, err)
	}
	events := slices.Clone(resp.Chunk)
	slices.Reverse(events)
	for _, evt := range events {
		evt.RoomID = room
		_ = evt.Content.ParseRaw(evt.Type)
	}
	return events, nil
}

// eventsAfter returns the events of room that follow the event after (all recent events when it is
// empty or no longer among the latest 100).
func (m *matrixSide) eventsAfter(ctx context.Context, room id.RoomID, after id.EventID) ([]*event.Event, error) {
	events, err := m.timeline(ctx, room)
	if err != nil {
		return nil, err
	}
	for i, evt := range events {
		if evt.ID == after {
			return events[i+1:], nil
		}
	}
	return events, nil
}

// waitEvent waits for an event in room, after the event after, for which match returns true, and
// returns the newest such event.
func (m *matrixSide) waitEvent(ctx context.Context, what string, room id.RoomID, after id.EventID, match func(*event.Event) bool) (*event.Event, error) {
	var found *event.Event
	err := m.waitUntil(ctx, what, func(ctx context.Context) (bool, error) {
		events, err := m.eventsAfter(ctx, room, after)
		if err != nil {
			return false, err
		}
		for _, evt := range events {
			if match(evt) {
				found = evt
			}
		}
		return found != nil, nil
	})
	return found, err
}

// botNotice matches a message from the bridge bot whose body contains text.
func (m *matrixSide) botNotice(text string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Sender == m.bot && evt.Type == event.EventMessage && containsFold(evt.Content.AsMessage().Body, text)
	}
}

// waitBridge waits until the bridge bot exists on the homeserver (the bridge registers it on start)
// and, when bridgeURL is set, until the bridge answers on it.
func (m *matrixSide) waitBridge(ctx context.Context, bridgeURL string) error {
	for {
		_, profileErr := m.client.GetProfile(ctx, m.bot)
		live := bridgeURL == "" || httpOK(ctx, bridgeURL+"/_matrix/mau/live")
		if profileErr == nil && live {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bridge did not come up: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode < 500
}

// managementRoom returns the user's direct chat with the bridge bot, creating it (and waiting for
// the bot to join and welcome the user) when there is none yet. A second demo run finds the room of
// the first in the user's m.direct account data.
func (m *matrixSide) managementRoom(ctx context.Context) (id.RoomID, error) {
	direct := event.DirectChatsEventContent{}
	if err := m.client.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil && !errors.Is(err, mautrix.MNotFound) {
		return "", fmt.Errorf("failed to read m.direct: %w", err)
	}
	for _, room := range direct[m.bot] {
		if m.bothJoined(ctx, room, m.bot) {
			return room, nil
		}
	}
	resp, err := m.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Invite: []id.UserID{m.bot}, Preset: "trusted_private_chat", IsDirect: true,
		Name: "WhatsApp bridge",
	})
	if err != nil {
		return "", fmt.Errorf("failed to create a direct chat with %s: %w", m.bot, err)
	}
	direct[m.bot] = append(direct[m.bot], resp.RoomID)
	if err = m.client.SetAccountData(ctx, event.AccountDataDirectChats.Type, direct); err != nil {
		return "", fmt.Errorf("failed to update m.direct: %w", err)
	}
	if _, err = m.waitEvent(ctx, "the bridge bot to welcome you", resp.RoomID, "", m.botNotice("management room")); err != nil {
		return "", err
	}
	return resp.RoomID, nil
}

// bothJoined reports whether the demo user and other are joined members of room.
func (m *matrixSide) bothJoined(ctx context.Context, room id.RoomID, other id.UserID) bool {
	resp, err := m.client.JoinedMembers(ctx, room)
	if err != nil {
		return false
	}
	_, me := resp.Joined[m.client.UserID]
	_, them := resp.Joined[other]
	return me && them
}

// command sends text in the management room and returns the event ID, to look for the answer after it.
func (m *matrixSide) command(ctx context.Context, room id.RoomID, text string) (id.EventID, error) {
	resp, err := m.client.SendText(ctx, room, text)
	if err != nil {
		return "", fmt.Errorf("failed to send %q: %w", text, err)
	}
	return resp.EventID, nil
}

// joinInvites accepts every pending invite, as a user clicking "Accept" would. The bridge invites the
// user to each new portal.
func (m *matrixSide) joinInvites(ctx context.Context) error {
	resp, err := m.client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: activityFilter})
	if err != nil {
		return fmt.Errorf("failed to sync: %w", err)
	}
	for room := range resp.Rooms.Invite {
		if _, err = m.client.JoinRoomByID(ctx, room); err != nil {
			return fmt.Errorf("failed to join %s: %w", room, err)
		}
	}
	return nil
}

// findPortal waits for the portal room in which ghost sent a message with body at or after since
// (accepting invites on the way), and returns it. On a second demo run the portal of the first is
// found again, since the bridge keys a chat by the contact's phone number.
func (m *matrixSide) findPortal(ctx context.Context, what string, ghost id.UserID, body string, since time.Time) (id.RoomID, error) {
	var found id.RoomID
	err := m.waitUntil(ctx, what, func(ctx context.Context) (bool, error) {
		if err := m.joinInvites(ctx); err != nil {
			return false, err
		}
		rooms, err := m.client.JoinedRooms(ctx)
		if err != nil {
			return false, err
		}
		for _, room := range rooms.JoinedRooms {
			events, err := m.timeline(ctx, room)
			if err != nil {
				continue
			}
			for _, evt := range events {
				if evt.Sender == ghost && evt.Type == event.EventMessage && evt.Content.AsMessage().Body == body &&
					!time.UnixMilli(evt.Timestamp).Before(since.Add(-2*time.Second)) {
					found = room
					return true, nil
				}
			}
		}
		return false, nil
	})
	return found, err
}
