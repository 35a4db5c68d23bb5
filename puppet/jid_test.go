package puppet_test

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

func TestGhostUserIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		template string
		jid      types.JID
		want     id.UserID
	}{
		{"whatsapp_{{.}}", types.NewJID("4915112345678", types.DefaultUserServer), "@whatsapp_4915112345678:example.org"},
		{"whatsapp_{{.}}", types.NewADJID("4915112345678", 0, 7), "@whatsapp_4915112345678:example.org"},
		{"whatsapp_{{.}}", types.NewJID("4915112345678", types.LegacyUserServer), "@whatsapp_4915112345678:example.org"},
		{"whatsapp_{{.}}", types.NewJID("123456789012345", types.HiddenUserServer), "@whatsapp_lid-123456789012345:example.org"},
		{"whatsapp_{{.}}", types.JID{User: "123456789012345", Device: 3, Server: types.HiddenUserServer}, "@whatsapp_lid-123456789012345:example.org"},
		{"wa.{{.}}.ghost", types.NewJID("4915112345678", types.DefaultUserServer), "@wa.4915112345678.ghost:example.org"},
		{"wa.{{.}}.ghost", types.NewJID("99", types.HiddenUserServer), "@wa.lid-99.ghost:example.org"},
		{"whatsapp_{{.}}", types.NewJID("120363000000000000", types.GroupServer), ""},
		{"whatsapp_{{.}}", types.StatusBroadcastJID, ""},
		{"whatsapp_{{.}}", types.NewJID("abc", types.DefaultUserServer), ""},
	} {
		m := puppet.NewManager(testConfig("http://127.0.0.1:1", tc.template), nil, nil, discardLog())
		if got := m.MXIDFor(tc.jid); got != tc.want {
			t.Errorf("template %q: MXIDFor(%s) = %q, want %q", tc.template, tc.jid, got, tc.want)
		}
		if tc.want == "" {
			continue
		}
		wantJID := types.NewJID(tc.jid.User, types.DefaultUserServer)
		if tc.jid.Server == types.HiddenUserServer {
			wantJID.Server = types.HiddenUserServer
		}
		if back, ok := m.ParseMXID(tc.want); !ok || back != wantJID {
			t.Errorf("template %q: ParseMXID(%s) = %s, %v; want %s", tc.template, tc.want, back, ok, wantJID)
		}
		if !m.IsGhost(tc.want) {
			t.Errorf("IsGhost(%s) = false", tc.want)
		}
	}
}

func TestNotGhosts(t *testing.T) {
	t.Parallel()
	m := puppet.NewManager(testConfig("http://127.0.0.1:1", "whatsapp_{{.}}"), nil, nil, discardLog())
	for _, userID := range []id.UserID{
		"@whatsappbot:example.org",
		"@alice:example.org",
		"@whatsapp_4915112345678:other.org",
		"@whatsapp_:example.org",
		"@whatsapp_lid-:example.org",
		"@whatsapp_lid-12ab:example.org",
		"@whatsapp_12ab:example.org",
		"whatsapp_4915112345678",
		"",
	} {
		if m.IsGhost(userID) {
			t.Errorf("IsGhost(%q) = true, want false", userID)
		}
		if p, err := m.GetByMXID(context.Background(), userID); p != nil || err != nil {
			t.Errorf("GetByMXID(%q) = %v, %v; want nil, nil", userID, p, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pn := types.NewJID("4915112345678", types.DefaultUserServer)
		lid := types.NewJID("123456789012345", types.HiddenUserServer)
		unknownLID := types.NewJID("999999999999999", types.HiddenUserServer)
		lids := newFakeLIDs()
		lids.learn(lid, pn)
		for _, tc := range []struct {
			in   types.JID
			lids puppet.LIDResolver
			want types.JID
		}{
			{types.NewADJID(pn.User, 0, 12), nil, pn},
			{pn, lids, pn},
			{types.JID{User: lid.User, Device: 2, Server: types.HiddenUserServer}, lids, pn},
			{lid, nil, lid},
			{unknownLID, lids, unknownLID},
		} {
			got, err := e.m.Canonical(ctx, tc.in, tc.lids)
			if err != nil || got != tc.want {
				t.Errorf("Canonical(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		}
		if _, err := e.m.Canonical(ctx, types.NewJID("1234-5678", types.GroupServer), lids); !errors.Is(err, puppet.ErrNotUser) {
			t.Errorf("Canonical(group) error = %v, want ErrNotUser", err)
		}
		// Once the mapping has been recorded, the LID alone is enough, even after a restart.
		if _, err := e.m.Get(ctx, pn, lids); err != nil {
			t.Fatal(err)
		}
		e.restart()
		if got, err := e.m.Canonical(ctx, lid, nil); err != nil || got != pn {
			t.Errorf("Canonical(%s) after recording = %s, %v; want %s", lid, got, err, pn)
		}
		if e.hs.total() != 0 {
			t.Errorf("Canonical and Get made %d homeserver requests, want 0", e.hs.total())
		}
	})
}
