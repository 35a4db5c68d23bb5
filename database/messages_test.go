package database_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

func TestMessageRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testDMJID, testUserJID)
		insertPortal(t, db, key, "dm")
		sender := types.NewADJID("4915112345678", 0, 2)
		now := ms(time.Now())

		// A message needs its portal.
		orphan := &database.Message{Portal: database.NewPortalKey(types.NewJID("1", types.GroupServer), testUserJID),
			WAID: "X", Sender: sender, MXID: "$orphan", MXRoom: "!x:example.org", Timestamp: now}
		if err := db.Message.Insert(ctx, orphan); err == nil {
			t.Fatal("a message of an unknown portal was accepted")
		}

		exists, err := db.Message.Exists(ctx, key, "3EB0A")
		must(t, err)
		if exists {
			t.Fatal("Exists is true before the message was stored")
		}
		part0 := &database.Message{Portal: key, WAID: "3EB0A", Part: 0, Sender: sender, SenderMXID: "@whatsapp_4915112345678:example.org",
			MXID: "$ev0", MXRoom: "!dm:example.org", Timestamp: now, MediaExpired: true}
		part1 := *part0
		part1.Part, part1.MXID, part1.MediaExpired = 1, "$ev1", false
		must(t, db.Message.Insert(ctx, &part1))
		must(t, db.Message.Insert(ctx, part0))
		later := &database.Message{Portal: key, WAID: "3EB0B", Sender: testUserJID, SenderMXID: "@alice:example.org",
			MXID: "$ev2", MXRoom: "!dm:example.org", Timestamp: now.Add(time.Second), IsFromMatrix: true,
			PollAnswers: []string{"a1", "a2"}}
		must(t, db.Message.Insert(ctx, later))
		if err = db.Message.Insert(ctx, part0); err == nil {
			t.Fatal("the same message part was stored twice")
		}

		exists, err = db.Message.Exists(ctx, key, "3EB0A")
		must(t, err)
		if !exists {
			t.Fatal("Exists is false for a stored message")
		}
		parts, err := db.Message.GetByWAID(ctx, key, "3EB0A")
		must(t, err)
		if len(parts) != 2 || parts[0].MXID != "$ev0" || parts[1].MXID != "$ev1" || parts[0].PollAnswers != nil {
			t.Fatalf("GetByWAID returned %v, want parts 0 and 1 in order", parts)
		}
		got := parts[0]
		if got.Portal != key || got.Sender != sender.ToNonAD() || got.SenderMXID != part0.SenderMXID ||
			got.MXRoom != part0.MXRoom || !got.Timestamp.Equal(now) || got.EditCount != 0 || !got.LastEdit.IsZero() || got.IsFromMatrix ||
			!got.MediaExpired || parts[1].MediaExpired {
			t.Fatalf("GetByWAID part 0 = %+v, want %+v", got, part0)
		}
		byMXID, err := db.Message.GetByMXID(ctx, "$ev2")
		must(t, err)
		if byMXID == nil || byMXID.WAID != "3EB0B" || !byMXID.IsFromMatrix || !slices.Equal(byMXID.PollAnswers, []string{"a1", "a2"}) {
			t.Fatalf("GetByMXID = %+v, want the Matrix-sent message", byMXID)
		}
		last, err := db.Message.GetLastInPortal(ctx, key)
		must(t, err)
		if last == nil || last.WAID != "3EB0B" {
			t.Fatalf("GetLastInPortal = %+v, want 3EB0B", last)
		}
		first, err := db.Message.GetFirstInPortal(ctx, key)
		must(t, err)
		if first == nil || first.WAID != "3EB0A" || first.Part != 0 {
			t.Fatalf("GetFirstInPortal = %+v, want part 0 of 3EB0A", first)
		}

		expired, err := db.Message.GetExpired(ctx, now, 10)
		must(t, err)
		if len(expired) != 0 {
			t.Fatalf("GetExpired without expiring messages = %v", expired)
		}
		soon := *later
		soon.WAID, soon.MXID, soon.ExpiresAt = "3EB0C", "$ev3", now.Add(time.Second)
		must(t, db.Message.Insert(ctx, &soon))
		if expired, err = db.Message.GetExpired(ctx, now, 10); err != nil || len(expired) != 0 {
			t.Fatalf("GetExpired before the time = %v, %v", expired, err)
		}
		expired, err = db.Message.GetExpired(ctx, now.Add(time.Second), 10)
		must(t, err)
		if len(expired) != 1 || expired[0].WAID != "3EB0C" || !expired[0].ExpiresAt.Equal(soon.ExpiresAt) {
			t.Fatalf("GetExpired at the time = %+v, want 3EB0C", expired)
		}
		must(t, db.Message.Delete(ctx, key, "3EB0C"))

		editedAt := now.Add(time.Minute)
		got.EditCount, got.LastEdit, got.MediaExpired = 2, editedAt, false
		must(t, db.Message.Update(ctx, got))
		parts, err = db.Message.GetByWAID(ctx, key, "3EB0A")
		must(t, err)
		if parts[0].EditCount != 2 || !parts[0].LastEdit.Equal(editedAt) || parts[1].EditCount != 0 || parts[0].MediaExpired {
			t.Fatalf("after Update parts = %+v, %+v", parts[0], parts[1])
		}

		must(t, db.Message.Delete(ctx, key, "3EB0A"))
		parts, err = db.Message.GetByWAID(ctx, key, "3EB0A")
		must(t, err)
		if len(parts) != 0 {
			t.Fatalf("GetByWAID after Delete returned %d parts", len(parts))
		}

		// Deleting the portal deletes its messages.
		must(t, db.Portal.Delete(ctx, key))
		if m, err := db.Message.GetByMXID(ctx, "$ev2"); err != nil || m != nil {
			t.Fatalf("message of a deleted portal still there: %v, %v", m, err)
		}
		if m, err := db.Message.GetLastInPortal(ctx, key); err != nil || m != nil {
			t.Fatalf("GetLastInPortal of a deleted portal = %v, %v", m, err)
		}
		if m, err := db.Message.GetFirstInPortal(ctx, key); err != nil || m != nil {
			t.Fatalf("GetFirstInPortal of a deleted portal = %v, %v", m, err)
		}
	})
}

func TestReactionRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		key := database.NewPortalKey(testGroupJID, testUserJID)
		insertPortal(t, db, key, "group")
		alice := types.NewADJID("4915112345678", 0, 5)
		now := ms(time.Now())

		r := &database.Reaction{Portal: key, TargetWAID: "3EB0A", Sender: alice, MXID: "$r1", Emoji: "👍", WAID: "3EB0R1", Timestamp: now}
		must(t, db.Reaction.Upsert(ctx, r))
		got, err := db.Reaction.Get(ctx, key, "3EB0A", alice.ToNonAD())
		must(t, err)
		if got == nil || got.Portal != key || got.Sender != alice.ToNonAD() || got.MXID != "$r1" || got.Emoji != "👍" ||
			got.WAID != "3EB0R1" || !got.Timestamp.Equal(now) {
			t.Fatalf("Get returned %+v, want %+v", got, r)
		}

		// A new reaction from the same sender to the same message replaces the old one.
		r2 := &database.Reaction{Portal: key, TargetWAID: "3EB0A", Sender: alice, MXID: "$r2", Emoji: "❤️", WAID: "3EB0R2", Timestamp: now}
		must(t, db.Reaction.Upsert(ctx, r2))
		if old, err := db.Reaction.GetByMXID(ctx, "$r1"); err != nil || old != nil {
			t.Fatalf("replaced reaction still found by its event: %v, %v", old, err)
		}
		got, err = db.Reaction.GetByMXID(ctx, "$r2")
		must(t, err)
		if got == nil || got.Emoji != "❤️" {
			t.Fatalf("GetByMXID = %+v, want the heart", got)
		}

		must(t, db.Reaction.Delete(ctx, key, "3EB0A", alice))
		if gone, err := db.Reaction.Get(ctx, key, "3EB0A", alice); err != nil || gone != nil {
			t.Fatalf("Get after Delete = %v, %v; want nil, nil", gone, err)
		}
	})
}
