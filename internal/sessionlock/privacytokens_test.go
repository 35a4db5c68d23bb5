package sessionlock

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// TestPrivacyTokenLookUp: on PostgreSQL the device's privacy token look-up is one plain statement
// (once the LID store knows the JID's counterpart) and finds what whatsmeow's own look-up finds: the token stored under the JID or under its phone
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
		// database for it too (whatsmeow's CachedLIDMap keeps the answer); after that it is one.
		if _, err := device.PrivacyTokens.GetPrivacyToken(ctx, jid(c.user)); err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		before := counter.count()
		got, err := device.PrivacyTokens.GetPrivacyToken(ctx, jid(c.user))
		if err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		if n := len(counter.since(before)); n != 1 {
			t.Errorf("%s: %d statements, want 1", c.user, n)
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
