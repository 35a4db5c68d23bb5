package bridge

import (
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
)

func TestGhostPresence(t *testing.T) {
	seen := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name       string
		evt        events.Presence
		want       event.Presence
		wantStatus string
	}{
		{"online", events.Presence{}, event.PresenceOnline, ""},
		{"online ignores an old last seen", events.Presence{LastSeen: seen}, event.PresenceOnline, ""},
		{"offline with last seen in UTC", events.Presence{Unavailable: true, LastSeen: seen}, event.PresenceOffline, "Last seen 2026-03-04 04:06 UTC"},
		{"offline, last seen hidden", events.Presence{Unavailable: true}, event.PresenceOffline, ""},
	} {
		got := ghostPresence(&tc.evt)
		if got.Presence != tc.want || got.StatusMsg != tc.wantStatus {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, got.Presence, got.StatusMsg, tc.want, tc.wantStatus)
		}
	}
}
