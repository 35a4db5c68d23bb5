package bridge

import (
	"testing"
	"time"
)

func TestInboxStuck(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cases := []struct {
		name           string
		oldest, active time.Time
		want           bool
	}{
		{"nothing pending", time.Time{}, ago(time.Hour), false},
		{"pending briefly", ago(time.Minute), ago(time.Hour), false},
		{"old but attempted recently (waits for WhatsApp)", ago(time.Hour), ago(3 * time.Second), false},
		{"old and never attempted since", ago(time.Hour), ago(10 * time.Minute), true},
		{"just past both limits", ago(inboxStuckAfter + time.Second), ago(inboxStuckAfter + time.Second), true},
	}
	for _, c := range cases {
		if got := inboxStuck(now, c.oldest, c.active); got != c.want {
			t.Errorf("%s: inboxStuck = %v, want %v", c.name, got, c.want)
		}
	}
}
