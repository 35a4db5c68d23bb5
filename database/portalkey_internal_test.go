package database

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
)

// TestJIDString: the shortcut formats every kind of JID exactly as whatsmeow's JID.String does.
func TestJIDString(t *testing.T) {
	for _, jid := range []types.JID{
		{},
		types.NewJID("4917600000002", types.DefaultUserServer),
		types.NewJID("120363000000000001", types.GroupServer),
		types.NewJID("123456789", types.HiddenUserServer),
		types.NewADJID("4917600000002", 0, 12),
		types.NewADJID("123456789", 1, 3),
		{Server: types.BroadcastServer},
		types.StatusBroadcastJID,
	} {
		if got, want := jidString(jid), jid.String(); got != want {
			t.Errorf("jidString(%#v) = %q, want %q", jid, got, want)
		}
	}
}
