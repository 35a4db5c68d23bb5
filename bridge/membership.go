package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// memberships caches the membership of Matrix users in rooms, from every m.room.member event the
// bridge is sent and, for a user it has not seen yet, from the homeserver (the room's state as the
// bot). It is how a portal accepts events only from users who are in its room: the appservice API
// pushes whatever the homeserver sends, so a buggy or forged transaction could carry a message of
// someone who left. Nothing is kept across restarts; the first event of each user in each room
// after a start costs one request.
type memberships struct {
	lock  sync.Mutex
	rooms map[id.RoomID]map[id.UserID]event.Membership
}

// note records userID's membership in roomID.
func (m *memberships) note(roomID id.RoomID, userID id.UserID, membership event.Membership) {
	m.lock.Lock()
	defer m.lock.Unlock()
	if m.rooms == nil {
		m.rooms = make(map[id.RoomID]map[id.UserID]event.Membership)
	}
	if m.rooms[roomID] == nil {
		m.rooms[roomID] = make(map[id.UserID]event.Membership)
	}
	m.rooms[roomID][userID] = membership
}

func (m *memberships) get(roomID id.RoomID, userID id.UserID) (event.Membership, bool) {
	m.lock.Lock()
	defer m.lock.Unlock()
	membership, ok := m.rooms[roomID][userID]
	return membership, ok
}

// noteMemberEvent records the membership an m.room.member event sets.
func (br *Bridge) noteMemberEvent(evt *event.Event) {
	if evt.StateKey == nil {
		return
	}
	if membership := evt.Content.AsMember().Membership; membership != "" {
		br.members.note(evt.RoomID, id.UserID(*evt.StateKey), membership)
	}
}

// isJoined reports whether userID is a joined member of roomID, from what the bridge saw or else
// from the homeserver. A user the room's state does not name (M_NOT_FOUND) is not joined; any other
// failure is returned (the event is retried later).
func (br *Bridge) isJoined(ctx context.Context, roomID id.RoomID, userID id.UserID) (bool, error) {
	if membership, ok := br.members.get(roomID, userID); ok {
		return membership == event.MembershipJoin, nil
	}
	var content event.MemberEventContent
	err := br.AS.BotClient().StateEvent(ctx, roomID, event.StateMember, userID.String(), &content)
	if errors.Is(err, mautrix.MNotFound) {
		content.Membership = event.MembershipLeave
	} else if err != nil {
		return false, fmt.Errorf("failed to look up %s's membership in %s: %w", userID, roomID, err)
	}
	br.members.note(roomID, userID, content.Membership)
	zerolog.Ctx(ctx).Debug().Stringer("user", userID).Str("membership", string(content.Membership)).Msg("Looked up membership")
	return content.Membership == event.MembershipJoin, nil
}
