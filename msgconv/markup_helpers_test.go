package msgconv

import (
	"context"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

// testUser is one WhatsApp user the test resolvers know.
type testUser struct {
	jid    types.JID
	userID id.UserID
	name   string
}

var (
	bob   = testUser{types.NewJID("4915112345678", types.DefaultUserServer), "@whatsapp_4915112345678:example.org", "Bob"}
	carol = testUser{types.NewJID("123456789012345", types.HiddenUserServer), "@whatsapp_lid-123456789012345:example.org", "Carol"}
	// alice is the bridge user herself: her WhatsApp JID maps to her real Matrix account.
	alice = testUser{types.NewJID("4900000000001", types.DefaultUserServer), "@alice:example.org", "Alice"}
	// dave has a display name full of HTML special characters.
	dave = testUser{types.NewJID("4911111111111", types.DefaultUserServer), "@whatsapp_4911111111111:example.org", "<Dave & Co>"}
	// stranger is mentioned on WhatsApp but unknown to the bridge.
	stranger = types.NewJID("4917000000000", types.DefaultUserServer)

	knownUsers = []testUser{bob, carol, alice, dave}
)

// testResolver implements both resolvers over knownUsers and counts calls.
type testResolver struct{ calls int }

func (r *testResolver) ResolveWhatsAppUser(_ context.Context, jid types.JID) (id.UserID, string, bool) {
	r.calls++
	for _, u := range knownUsers {
		if u.jid == jid {
			return u.userID, u.name, true
		}
	}
	return "", "", false
}

func (r *testResolver) ResolveMatrixUser(_ context.Context, userID id.UserID) (types.JID, bool) {
	r.calls++
	for _, u := range knownUsers {
		if u.userID == userID {
			return u.jid, true
		}
	}
	return types.JID{}, false
}

var (
	_ MentionResolver = (*testResolver)(nil)
	_ UserResolver    = (*testResolver)(nil)
)

func pill(u testUser) string {
	return `<a href="https://matrix.to/#/` + string(u.userID) + `">` + u.name + `</a>`
}
