package portal

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"
)

// DoublePuppetMarker is the content key the bridge puts into every event it sends as a user's real
// Matrix account (double puppeting). Such an event reaches the bridge again like any event of the
// user; the marker tells it apart from what the user did in a Matrix client, so that it is not
// bridged back to WhatsApp.
const DoublePuppetMarker = "org.matrix-whatsapp.double_puppet"

// IsDoublePuppeted reports whether evt was sent by the bridge as its sender's real account.
func IsDoublePuppeted(evt *event.Event) bool {
	marked, _ := evt.Content.Raw[DoublePuppetMarker].(bool)
	return marked
}

// DoublePuppets decides when a bridge user's own ghost acts as the user's real Matrix account.
// Implementations must be safe for concurrent use and must not block.
type DoublePuppets interface {
	// RealUser returns the real account that ghost stands for in roomID when ghost is the own
	// ghost of a bridge user's WhatsApp account with double puppeting on, else "". In the 1:1
	// chat of another account of the same user, that ghost is a contact and stands for itself.
	RealUser(ctx context.Context, ghost id.UserID, roomID id.RoomID) id.UserID
	// Active reports whether double puppeting is on for the real account user.
	Active(user id.UserID) bool
	// ReceiptSent is told of every read receipt the bridge set as user, so that it is not bridged
	// back to WhatsApp when the homeserver reports it.
	ReceiptSent(user id.UserID, roomID id.RoomID, eventID id.EventID)
}

// doublePuppeting holds the clients that act as real accounts with the double puppeting
// registration's as_token (?user_id= masquerading).
type doublePuppeting struct {
	token string
	users DoublePuppets
	// lock guards clients and rooms.
	lock    sync.Mutex
	clients map[id.UserID]*mautrix.Client
	// rooms remembers, per room and real account, whether the account is in the room (joined by
	// the bridge or already there): true, or false when it could not join (then its ghost acts).
	rooms map[roomUser]bool
}

type roomUser struct {
	room id.RoomID
	user id.UserID
}

// SetDoublePuppeting makes the own ghosts of bridge users act as their real accounts where users
// says so, through the homeserver's ?user_id= masquerading with token, the as_token of a second
// registration whose non-exclusive user namespace covers the homeserver's users. Call it before
// the first use.
func (m *AppserviceMatrix) SetDoublePuppeting(token string, users DoublePuppets) {
	m.dp = &doublePuppeting{token: token, users: users, clients: make(map[id.UserID]*mautrix.Client), rooms: make(map[roomUser]bool)}
}

// realClient returns the client of the real account that user stands for in roomID, or nil when
// user acts as itself: no double puppeting, not an own ghost, an account that cannot join roomID,
// or an encrypted room in a bridge without encryption.
//
// In an encrypted room the real account's client encrypts with the bridge's device, as the ghosts
// do (the bridge holds no keys of the user's own devices): the user's clients decrypt it with the
// room key the bridge shares with them, and show that it was sent from a device that is not one of
// the user's.
func (m *AppserviceMatrix) realClient(ctx context.Context, user id.UserID, roomID id.RoomID) *mautrix.Client {
	if m.dp == nil {
		return nil
	}
	if m.crypto == nil {
		if encrypted, _ := m.as.StateStore.IsEncrypted(ctx, roomID); encrypted {
			// It could only send in the clear there; the ghost acts.
			return nil
		}
	}
	real := m.dp.users.RealUser(ctx, user, roomID)
	if real == "" {
		return nil
	}
	return m.joinedClient(ctx, real, roomID)
}

// joinedClient returns the client of the real account real once it is in roomID, or nil when it
// cannot join.
func (m *AppserviceMatrix) joinedClient(ctx context.Context, real id.UserID, roomID id.RoomID) *mautrix.Client {
	cli := m.dpClient(real)
	key := roomUser{roomID, real}
	m.dp.lock.Lock()
	joined, known := m.dp.rooms[key]
	m.dp.lock.Unlock()
	if !known {
		// Joining a room one is in already is a no-op; an invited user is joined; anyone else
		// is refused, and the ghost acts in that room instead.
		_, err := cli.JoinRoomByID(ctx, roomID)
		joined = err == nil
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("user_id", real).Stringer("room_id", roomID).
				Msg("Real account cannot join the room, its ghost acts instead")
		}
		if err == nil || errors.Is(err, mautrix.MForbidden) {
			// A refusal is remembered; other failures are tried again next time.
			m.setJoined(real, roomID, joined)
		}
	}
	if !joined {
		return nil
	}
	return cli
}

// setJoined records whether real is in roomID.
func (m *AppserviceMatrix) setJoined(real id.UserID, roomID id.RoomID, joined bool) {
	m.dp.lock.Lock()
	defer m.dp.lock.Unlock()
	m.dp.rooms[roomUser{roomID, real}] = joined
}

func (m *AppserviceMatrix) dpClient(real id.UserID) *mautrix.Client {
	m.dp.lock.Lock()
	defer m.dp.lock.Unlock()
	if cli := m.dp.clients[real]; cli != nil {
		return cli
	}
	cli := m.as.NewMautrixClient(real)
	cli.AccessToken = m.dp.token
	if m.crypto != nil {
		cli.Crypto = m.crypto
	}
	m.dp.clients[real] = cli
	return cli
}

// markDoublePuppeted adds DoublePuppetMarker to content.
func markDoublePuppeted(content any) any {
	return &event.Content{Parsed: content, Raw: map[string]any{DoublePuppetMarker: true}}
}

// ChatSettings are a user's WhatsApp settings of one chat that double puppeting shows on the
// user's own account.
type ChatSettings struct {
	// Pinned becomes the room tag m.favourite, Archived the room tag m.lowpriority.
	Pinned, Archived bool
	// Muted becomes a room push rule of the user that does not notify.
	Muted bool
}

// ApplyChatSettings sets the room tags and the room push rule of user (a real account) for roomID
// to match settings. It does nothing and returns nil when double puppeting is not on for user.
// Errors are the homeserver's.
func (m *AppserviceMatrix) ApplyChatSettings(ctx context.Context, user id.UserID, roomID id.RoomID, settings ChatSettings) error {
	if m.dp == nil || !m.dp.users.Active(user) {
		return nil
	}
	cli := m.joinedClient(ctx, user, roomID)
	if cli == nil {
		return nil
	}
	current, err := cli.GetTags(ctx, roomID)
	if err != nil {
		return fmt.Errorf("failed to read room tags: %w", err)
	}
	for tag, want := range map[event.RoomTag]bool{event.RoomTagFavourite: settings.Pinned, event.RoomTagLowPriority: settings.Archived} {
		_, has := current.Tags[tag]
		switch {
		case want && !has:
			err = cli.AddTag(ctx, roomID, tag, 0.5)
		case !want && has:
			err = cli.RemoveTag(ctx, roomID, tag)
		}
		if err != nil {
			return fmt.Errorf("failed to change room tag %s: %w", tag, err)
		}
	}
	if settings.Muted {
		err = cli.PutPushRule(ctx, "global", pushrules.RoomRule, string(roomID), &mautrix.ReqPutPushRule{
			// No actions: the room's events do not notify (the older "dont_notify" means the same).
			Actions: []*pushrules.PushAction{},
		})
	} else if err = cli.DeletePushRule(ctx, "global", pushrules.RoomRule, string(roomID)); errors.Is(err, mautrix.MNotFound) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("failed to change the room's push rule: %w", err)
	}
	return nil
}
