package sessionlock

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestPrivacyTokenLookUp: on PostgreSQL the device's privacy token look-up is one plain statement
// (once the LID store knows the JID's counterpart), none when the answer is known, and finds what whatsmeow's own look-up finds: the token stored under the JID or under its phone
// number or LID counterpart (the newer when both are), nothing for a contact without one, and the
// device part of the JID ignored.
func TestPrivacyTokenLookUp(t *testing.T) {
	t.Parallel()
	device, inner, counter := newDeviceFor(t, testdb.Postgres)
	if _, ok := device.PrivacyTokens.(*privacyTokens); !ok {
		t.Fatalf("the privacy token store is %T", device.PrivacyTokens)
	}
	ctx := context.Background()
	jid := func(s string) types.JID {
		j, err := types.ParseJID(s)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	// Carol: known by LID, token stored under her phone number. Dave: token under his LID and an
	// older one under his number. Erin: token under her number, no LID known. Frank: no token.
	if err := device.LIDs.PutManyLIDMappings(ctx, []store.LIDMapping{
		{LID: jid("111@lid"), PN: jid("4915100000011@s.whatsapp.net")},
		{LID: jid("222@lid"), PN: jid("4915100000022@s.whatsapp.net")},
		{LID: jid("444@lid"), PN: jid("4915100000044@s.whatsapp.net")},
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	if err := device.PrivacyTokens.PutPrivacyTokens(ctx,
		store.PrivacyToken{User: jid("4915100000011@s.whatsapp.net"), Token: []byte("carol"), Timestamp: now},
		store.PrivacyToken{User: jid("222@lid"), Token: []byte("dave-new"), Timestamp: now, SenderTimestamp: now.Add(-time.Minute)},
		store.PrivacyToken{User: jid("4915100000022@s.whatsapp.net"), Token: []byte("dave-old"), Timestamp: now.Add(-time.Hour)},
		store.PrivacyToken{User: jid("4915100000033@s.whatsapp.net"), Token: []byte("erin"), Timestamp: now},
	); err != nil {
		t.Fatal(err)
	}
	asked := make(map[types.JID]bool)
	for _, c := range []struct {
		user string
		want string
	}{
		{"111@lid", "carol"},
		{"111:3@lid", "carol"},
		{"4915100000011@s.whatsapp.net", "carol"},
		{"222@lid", "dave-new"},
		{"4915100000022:7@s.whatsapp.net", "dave-new"},
		{"4915100000033@s.whatsapp.net", "erin"},
		{"333@lid", ""},
		{"444@lid", ""},
		{"4915100000044@s.whatsapp.net", ""},
	} {
		// The first look-up of a JID whose counterpart the LID store has not seen asks the
		// database for it too (whatsmeow's CachedLIDMap keeps the answer); the token itself is one
		// plain statement, and the next look-up is answered from memory.
		before := counter.count()
		if _, err := device.PrivacyTokens.GetPrivacyToken(ctx, jid(c.user)); err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		trips := counter.since(before)
		if asked[jid(c.user).ToNonAD()] {
			if len(trips) != 0 {
				t.Errorf("%s: asked with another device part before, took %q, want none", c.user, trips)
			}
		} else if len(trips) == 0 || len(trips) > 2 || trips[len(trips)-1] != "QueryRow "+strings.Join(strings.Fields(getPrivacyTokenQuery), " ") {
			t.Errorf("%s: the first look-up took %q, want the token's statement last", c.user, trips)
		}
		asked[jid(c.user).ToNonAD()] = true
		before = counter.count()
		got, err := device.PrivacyTokens.GetPrivacyToken(ctx, jid(c.user))
		if err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		if trips := counter.since(before); len(trips) != 0 {
			t.Errorf("%s: the second look-up took %q, want none", c.user, trips)
		}
		theirs, err := inner.GetPrivacyToken(ctx, jid(c.user))
		if err != nil {
			t.Fatal(err)
		}
		if c.want == "" {
			if got != nil || theirs != nil {
				t.Errorf("%s: got %+v (whatsmeow's look-up: %+v), want none", c.user, got, theirs)
			}
			continue
		}
		if got == nil || string(got.Token) != c.want {
			t.Fatalf("%s: got %+v, want token %q", c.user, got, c.want)
		}
		if theirs == nil || string(theirs.Token) != string(got.Token) || !theirs.Timestamp.Equal(got.Timestamp) ||
			!theirs.SenderTimestamp.Equal(got.SenderTimestamp) || theirs.User != got.User {
			t.Errorf("%s: got %+v, whatsmeow's look-up %+v", c.user, got, theirs)
		}
	}
}

// TestPrivacyTokenAnswersFollowWrites: a privacy token answer kept in memory is never older than
// the database: a new token stored, a token stored under the counterpart, and the pruning of
// expired tokens are each seen by the next look-up.
func TestPrivacyTokenAnswersFollowWrites(t *testing.T) {
	t.Parallel()
	device, _, counter := newDeviceFor(t, testdb.Postgres)
	ctx := context.Background()
	carol, _ := types.ParseJID("4915100000011@s.whatsapp.net")
	carolLID, _ := types.ParseJID("111@lid")
	if err := device.LIDs.PutManyLIDMappings(ctx, []store.LIDMapping{{LID: carolLID, PN: carol}}); err != nil {
		t.Fatal(err)
	}
	token := func() string {
		t.Helper()
		got, err := device.PrivacyTokens.GetPrivacyToken(ctx, carol)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			return ""
		}
		return string(got.Token)
	}
	put := func(user types.JID, value string, at time.Time) {
		t.Helper()
		if err := device.PrivacyTokens.PutPrivacyTokens(ctx, store.PrivacyToken{User: user, Token: []byte(value), Timestamp: at}); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-60 * 24 * time.Hour).Truncate(time.Second)
	if got := token(); got != "" {
		t.Fatalf("before any token: %q", got)
	}
	put(carol, "first", old)
	if got := token(); got != "first" {
		t.Fatalf("after the first token was stored: %q", got)
	}
	before := counter.count()
	if got := token(); got != "first" || len(counter.since(before)) != 0 {
		t.Fatalf("asked again: %q with %q, want the kept answer without a statement", got, counter.since(before))
	}
	put(carolLID, "newer, under the LID", time.Now().Truncate(time.Second))
	if got := token(); got != "newer, under the LID" {
		t.Fatalf("after a newer token under the LID: %q", got)
	}
	// whatsmeow prunes tokens older than its cutoff; the LID's token is kept, the old one goes.
	if _, err := device.PrivacyTokens.DeleteExpiredPrivacyTokens(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	put(carolLID, "", time.Time{}) // refused by whatsmeow's upsert (older timestamp): nothing changes
	if got := token(); got != "newer, under the LID" {
		t.Fatalf("after pruning: %q", got)
	}
	if _, err := device.PrivacyTokens.DeleteExpiredPrivacyTokens(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := token(); got != "" {
		t.Fatalf("after every token expired: %q", got)
	}
}
