package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// TestAlertTextSaysWhatToDo: every connection alert tells the user what happened and what to do.
func TestAlertTextSaysWhatToDo(t *testing.T) {
	until := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		alert whatsapp.Alert
		parts []string
	}{
		{whatsapp.Alert{Kind: whatsapp.AlertTemporaryBan, Detail: "too many people blocked you", Until: until},
			[]string{"temporarily banned your account until 2026-03-01 13:00:00 UTC", "too many people blocked you", "reconnects by itself when the ban ends"}},
		{whatsapp.Alert{Kind: whatsapp.AlertTemporaryBan, Detail: "reason 7"},
			[]string{"temporarily banned your account (reason 7)", "send `reconnect` once the ban is over"}},
		{whatsapp.Alert{Kind: whatsapp.AlertClientOutdated}, []string{"outdated", "Please update the bridge"}},
		{whatsapp.Alert{Kind: whatsapp.AlertStreamReplaced}, []string{"Another client took over", "send `reconnect` to take the connection back"}},
		{whatsapp.Alert{Kind: whatsapp.AlertConnectFailure, Detail: "409: client user agent was rejected"},
			[]string{"refused the connection (409: client user agent was rejected)", "send `reconnect` to try again"}},
	}
	for _, tt := range tests {
		text := alertText(tt.alert)
		for _, part := range tt.parts {
			if !strings.Contains(text, part) {
				t.Errorf("alert %d says %q, which lacks %q", tt.alert.Kind, text, part)
			}
		}
	}
}
