package database

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

const (
	chatSettingsColumns     = `user_mxid, chat_jid, muted_until, pinned, archived, unread, updated_at`
	getChatSettingsQuery    = `SELECT ` + chatSettingsColumns + ` FROM chat_settings WHERE user_mxid=$1 AND chat_jid=$2`
	upsertChatSettingsQuery = `
		INSERT INTO chat_settings (` + chatSettingsColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_mxid, chat_jid) DO UPDATE SET
			muted_until=excluded.muted_until, pinned=excluded.pinned, archived=excluded.archived,
			unread=excluded.unread, updated_at=excluded.updated_at
	`
)

// MutedForever is the ChatSettings.MutedUntil of a chat muted without end.
var MutedForever = time.UnixMilli(-1)

// ChatSettings is what a user's WhatsApp phone says about one chat: mute, pin, archive and unread.
// The bridge keeps it per user and chat whether or not the chat has a room.
type ChatSettings struct {
	UserMXID id.UserID
	Chat     types.JID
	// MutedUntil is when the mute ends: the zero time when not muted, MutedForever when muted
	// without end.
	MutedUntil time.Time
	Pinned     bool
	Archived   bool
	Unread     bool
	UpdatedAt  time.Time
}

func newChatSettings() *ChatSettings { return &ChatSettings{} }

// Muted reports whether the chat is muted at now.
func (cs *ChatSettings) Muted(now time.Time) bool {
	return cs.MutedUntil.Equal(MutedForever) || cs.MutedUntil.After(now)
}

// Scan reads one chat_settings row.
func (cs *ChatSettings) Scan(row dbutil.Scannable) (*ChatSettings, error) {
	var chat string
	var mutedUntil, updated int64
	if err := row.Scan(&cs.UserMXID, &chat, &mutedUntil, &cs.Pinned, &cs.Archived, &cs.Unread, &updated); err != nil {
		return nil, err
	}
	var err error
	if cs.Chat, err = types.ParseJID(chat); err != nil {
		return nil, fmt.Errorf("failed to parse chat_jid %q: %w", chat, err)
	}
	switch mutedUntil {
	case 0:
		cs.MutedUntil = time.Time{}
	default:
		cs.MutedUntil = time.UnixMilli(mutedUntil)
	}
	cs.UpdatedAt = fromUnixMilli(updated)
	return cs, nil
}

// ChatSettingsQuery reads and writes the chat_settings table.
type ChatSettingsQuery struct {
	qh *dbutil.QueryHelper[*ChatSettings]
}

// Get returns the settings of chat for user, or nil when the phone never synced any.
func (q *ChatSettingsQuery) Get(ctx context.Context, user id.UserID, chat types.JID) (*ChatSettings, error) {
	return q.qh.QueryOne(ctx, getChatSettingsQuery, string(user), chat.ToNonAD().String())
}

// Upsert stores cs (all fields) and sets UpdatedAt.
func (q *ChatSettingsQuery) Upsert(ctx context.Context, cs *ChatSettings) error {
	cs.UpdatedAt = time.Now()
	var mutedUntil int64
	if !cs.MutedUntil.IsZero() {
		mutedUntil = cs.MutedUntil.UnixMilli()
	}
	return q.qh.Exec(ctx, upsertChatSettingsQuery, string(cs.UserMXID), cs.Chat.ToNonAD().String(),
		mutedUntil, cs.Pinned, cs.Archived, cs.Unread, unixMilli(cs.UpdatedAt))
}
