package bridge

import (
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

func TestOwnPresenceWanted(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		mode     string
		presence *ownPresence
		want     bool
	}{
		{"active, no activity", config.OwnActive, &ownPresence{}, false},
		{"active, recent activity", config.OwnActive, &ownPresence{activeUntil: now.Add(time.Second)}, true},
		{"active, activity expired", config.OwnActive, &ownPresence{activeUntil: now}, false},
		{"active, online in Matrix", config.OwnActive, &ownPresence{onlineInMatrix: true}, true},
		{"always", config.OwnAlways, &ownPresence{}, true},
		{"never, even when active", config.OwnNever, &ownPresence{activeUntil: now.Add(time.Hour), onlineInMatrix: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.presence.wantAvailableLocked(tc.mode, now); got != tc.want {
				t.Errorf("available = %v, want %v", got, tc.want)
			}
		})
	}
}
