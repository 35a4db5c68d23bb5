package database_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestChatSettingsRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		chat := types.NewJID("4917600000002", types.DefaultUserServer)
		group := types.NewJID("120363000000000001", types.GroupServer)
		if cs, err := db.ChatSettings.Get(ctx, "@alice:example.org", chat); err != nil || cs != nil {
			t.Fatalf("Get of unknown chat = %v, %v; want nil, nil", cs, err)
		}
		until := ms(time.Now().Add(time.Hour))
		must(t, db.ChatSettings.Upsert(ctx, &database.ChatSettings{UserMXID: "@alice:example.org", Chat: chat, MutedUntil: until, Pinned: true}))
		must(t, db.ChatSettings.Upsert(ctx, &database.ChatSettings{UserMXID: "@alice:example.org", Chat: group, MutedUntil: database.MutedForever, Archived: true, Unread: true}))
		// The same group has its own settings for another user.
		must(t, db.ChatSettings.Upsert(ctx, &database.ChatSettings{UserMXID: "@bob:example.org", Chat: group}))

		got, err := db.ChatSettings.Get(ctx, "@alice:example.org", types.NewADJID(chat.User, 0, 3))
		must(t, err)
		if got == nil || !got.Pinned || got.Archived || !sameTime(got.MutedUntil, until) || !got.Muted(time.Now()) || got.Muted(until.Add(time.Second)) {
			t.Fatalf("alice's DM settings = %+v", got)
		}
		got, err = db.ChatSettings.Get(ctx, "@alice:example.org", group)
		must(t, err)
		if got == nil || !got.Archived || !got.Unread || !got.MutedUntil.Equal(database.MutedForever) || !got.Muted(time.Now().AddDate(100, 0, 0)) {
			t.Fatalf("alice's group settings = %+v", got)
		}
		got.MutedUntil, got.Archived = time.Time{}, false
		must(t, db.ChatSettings.Upsert(ctx, got))
		got, err = db.ChatSettings.Get(ctx, "@alice:example.org", group)
		must(t, err)
		if got.Muted(time.Now()) || got.Archived || !got.Unread {
			t.Fatalf("alice's group settings after unmute and unarchive = %+v", got)
		}
		bob, err := db.ChatSettings.Get(ctx, "@bob:example.org", group)
		must(t, err)
		if bob == nil || bob.Unread || bob.Muted(time.Now()) {
			t.Fatalf("bob's group settings = %+v", bob)
		}
	})
}

func TestBridgeStateRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		if v, err := db.State.Get(ctx, "bot_sync.next_batch"); err != nil || v != "" {
			t.Fatalf("Get of unset key = %q, %v; want empty", v, err)
		}
		must(t, db.State.Set(ctx, "bot_sync.next_batch", "s1_2"))
		must(t, db.State.Set(ctx, "bot_sync.next_batch", "s3_4"))
		must(t, db.State.Set(ctx, "other", "x"))
		if v, err := db.State.Get(ctx, "bot_sync.next_batch"); err != nil || v != "s3_4" {
			t.Fatalf("Get after two sets = %q, %v; want s3_4", v, err)
		}
	})
}
