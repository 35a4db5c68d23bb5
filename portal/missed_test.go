package portal

import (
	"strings"
	"testing"
	"time"
)

// TestGiveUpPlaceholders: placeholders posted before the cut-off are redacted and reported in one
// notice per room; a placeholder posted after it, and a second pass, are left alone.
func TestGiveUpPlaceholders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, msgID := range []string{"U1", "U22"} {
		if err := e.m.HandleWhatsAppUndecryptable(e.ctx, e.login, undecryptable(msgID, false)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.m.GiveUpPlaceholders(e.ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("gave up on %d placeholders posted after the cut-off (%v)", n, err)
	}
	n, err := e.m.GiveUpPlaceholders(e.ctx, time.Now().Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("gave up on %d placeholders (%v), want 2", n, err)
	}
	if redactions := e.mx.callsOf("Redact"); len(redactions) != 2 || redactions[0].user != testBot {
		t.Errorf("redactions %+v, want the bot's of both placeholders", redactions)
	}
	sends := e.mx.callsOf("SendEvent")
	report := summary(sends[len(sends)-1])
	if !strings.HasPrefix(report, "m.room.message:2 messages of this chat from 2023-11-14 22:13 to 2023-11-14 22:13 UTC could not be brought over") {
		t.Errorf("report %q", report)
	}
	if n, err = e.m.GiveUpPlaceholders(e.ctx, time.Now().Add(time.Second)); err != nil || n != 0 {
		t.Errorf("second pass gave up on %d (%v), want none", n, err)
	}
}
