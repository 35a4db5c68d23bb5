//go:build goolm

package encryption

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"
)

// StateStore is the appservice's state store with what encryption needs made durable: which rooms
// are encrypted (with their m.room.encryption content) and the rooms' members, kept in mautrix's
// SQL state store tables (mx_*) in the bridge's database. Everything else stays with the wrapped
// store.
//
// A room the database knows nothing about is looked up once per process on the homeserver (its
// m.room.encryption state, as the bot), so portals encrypted before encryption was allowed, or
// while the bridge was down, are found.
type StateStore struct {
	appservice.StateStore
	sql *sqlstatestore.SQLStateStore
	// fetch reads a room's encryption state from the homeserver; nil content means unencrypted.
	fetch   func(ctx context.Context, roomID id.RoomID) (*event.EncryptionEventContent, error)
	checked sync.Map // id.RoomID -> true once looked up this process
}

// NewStateStore wraps inner and keeps the durable part in db (upgrade it with Upgrade first).
func NewStateStore(inner appservice.StateStore, db *dbutil.Database, log dbutil.DatabaseLogger) *StateStore {
	return &StateStore{StateStore: inner, sql: sqlstatestore.NewSQLStateStore(db, log, true)}
}

// Upgrade brings the mx_* tables up to date (their own version table, mx_version) and indexes
// mx_user_profile by user, for FindSharedRooms: mautrix's tables key it by room, and the crypto
// machine asks for a user's rooms on each of their device list changes, which without the index
// reads every member row of every room. Running it again changes nothing.
func (s *StateStore) Upgrade(ctx context.Context) error {
	if err := s.sql.Upgrade(ctx); err != nil {
		return err
	}
	_, err := s.sql.Exec(ctx, "CREATE INDEX IF NOT EXISTS mx_user_profile_user_idx ON mx_user_profile (user_id)")
	return err
}

// IsEncrypted implements mautrix.StateStore from the durable store, asking the homeserver once for
// rooms it does not know.
func (s *StateStore) IsEncrypted(ctx context.Context, roomID id.RoomID) (bool, error) {
	content, err := s.GetEncryptionEvent(ctx, roomID)
	return content != nil && content.Algorithm != "", err
}

// GetEncryptionEvent implements mautrix.StateStore; see IsEncrypted.
func (s *StateStore) GetEncryptionEvent(ctx context.Context, roomID id.RoomID) (*event.EncryptionEventContent, error) {
	content, err := s.sql.GetEncryptionEvent(ctx, roomID)
	if err != nil || content != nil || s.fetch == nil {
		return content, err
	}
	if _, done := s.checked.Load(roomID); done {
		return nil, nil
	}
	content, err = s.fetch(ctx, roomID)
	if err != nil {
		return nil, fmt.Errorf("failed to read the room's encryption state: %w", err)
	}
	s.checked.Store(roomID, true)
	if content != nil {
		if err = s.sql.SetEncryptionEvent(ctx, roomID, content); err != nil {
			return nil, err
		}
	}
	return content, nil
}

// SetEncryptionEvent implements mautrix.StateStore.
func (s *StateStore) SetEncryptionEvent(ctx context.Context, roomID id.RoomID, content *event.EncryptionEventContent) error {
	return s.sql.SetEncryptionEvent(ctx, roomID, content)
}

// findSharedRoomsQuery selects the encrypted rooms (m.room.encryption in mx_room_state) where a
// user is joined or invited (mx_user_profile).
const findSharedRoomsQuery = `
	SELECT mx_user_profile.room_id FROM mx_user_profile
	JOIN mx_room_state ON mx_room_state.room_id=mx_user_profile.room_id
	WHERE mx_user_profile.user_id=$1 AND mx_user_profile.membership IN ('join', 'invite')
		AND mx_room_state.encryption IS NOT NULL
`

// FindSharedRooms implements crypto.StateStore: the encrypted rooms userID is joined to or invited
// to, as far as the bridge knows. The crypto machine asks when the user's device list changed
// (OlmMachine.OnDevicesChanged) and starts a new outbound session in each, so that a device the
// user just signed in can read what the bridge sends next. (mautrix's SQL state store answers this
// for a bridge from a portal table this bridge does not have.)
func (s *StateStore) FindSharedRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error) {
	rows, err := s.sql.Query(ctx, findSharedRoomsQuery, userID)
	return dbutil.NewRowIterWithError(rows, dbutil.ScanSingleColumn[id.RoomID], err).AsList()
}

// SetMembership implements mautrix.StateStore in both stores.
func (s *StateStore) SetMembership(ctx context.Context, roomID id.RoomID, userID id.UserID, membership event.Membership) error {
	return errors.Join(s.StateStore.SetMembership(ctx, roomID, userID, membership),
		s.sql.SetMembership(ctx, roomID, userID, membership))
}

// rememberMembers replaces the durable member list of roomID.
func (s *StateStore) rememberMembers(ctx context.Context, roomID id.RoomID, members []*event.Event) error {
	return s.sql.ReplaceCachedMembers(ctx, roomID, members)
}

// encryptionFromHomeserver reads m.room.encryption of roomID as client; nil when there is none.
func encryptionFromHomeserver(client *mautrix.Client) func(ctx context.Context, roomID id.RoomID) (*event.EncryptionEventContent, error) {
	return func(ctx context.Context, roomID id.RoomID) (*event.EncryptionEventContent, error) {
		var content event.EncryptionEventContent
		err := client.StateEvent(ctx, roomID, event.StateEncryption, "", &content)
		if errors.Is(err, mautrix.MNotFound) || errors.Is(err, mautrix.MForbidden) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		if content.Algorithm == "" {
			return nil, nil
		}
		return &content, nil
	}
}
