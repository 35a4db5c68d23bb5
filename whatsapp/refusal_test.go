package whatsapp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
)

// TestDecide: which WhatsApp refusal leads to which state, alert and reconnect policy.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		evt       any
		state     StateEvent
		alert     AlertKind // 0: none
		retry     RetryPolicy
		errorPart string
	}{
		{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut}, StateLoggedOut, 0, RetryEnded, "logged this device out"},
		{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureMainDeviceGone}, StateLoggedOut, 0, RetryEnded, "phone was logged out"},
		{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureUnknownLogout}, StateLoggedOut, 0, RetryEnded, "banned"},
		{&events.LoggedOut{}, StateLoggedOut, 0, RetryEnded, "removed from your phone"},
		{&events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour}, StateBadCredentials, AlertTemporaryBan, RetryAt, "until 2026-03-01T13:00:00Z (too many people blocked you)"},
		{&events.TemporaryBan{Code: 999}, StateBadCredentials, AlertTemporaryBan, RetryNever, "reason 999"},
		{&events.ClientOutdated{}, StateBadCredentials, AlertClientOutdated, RetryNever, "outdated"},
		{&events.StreamReplaced{}, StateBadCredentials, AlertStreamReplaced, RetryNever, "another client"},
		{&events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent}, StateBadCredentials, AlertConnectFailure, RetryNever, "409"},
		{&events.StreamError{Code: "599"}, StateTransientDisconnect, 0, RetryBackoff, "stream error 599"},
		{&events.Disconnected{}, StateTransientDisconnect, 0, RetryBackoff, "connection lost"},
		{&events.KeepAliveTimeout{ErrorCount: keepAliveFailures}, StateTransientDisconnect, 0, RetryBackoff, "keepalive"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T %v", tt.evt, tt.evt), func(t *testing.T) {
			d, ok := decide(tt.evt, now)
			if !ok {
				t.Fatal("not a connection problem")
			}
			if d.State != tt.state || d.Retry != tt.retry {
				t.Errorf("state %s retry %d, want %s retry %d", d.State, d.Retry, tt.state, tt.retry)
			}
			if !strings.Contains(d.Error, tt.errorPart) {
				t.Errorf("error %q does not contain %q", d.Error, tt.errorPart)
			}
			var kind AlertKind
			if d.Alert != nil {
				kind = d.Alert.Kind
			}
			if kind != tt.alert {
				t.Errorf("alert %d, want %d", kind, tt.alert)
			}
		})
	}
	ban, _ := decide(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: 90 * time.Minute}, now)
	if ban.RetryAfter != 90*time.Minute+banMargin || !ban.Alert.Until.Equal(now.Add(90*time.Minute)) {
		t.Errorf("ban retries after %v, ends %v; want 90m plus the margin and %v", ban.RetryAfter, ban.Alert.Until, now.Add(90*time.Minute))
	}
	if _, ok := decide(&events.KeepAliveTimeout{ErrorCount: keepAliveFailures - 1}, now); ok {
		t.Error("a single missed keepalive counts as a dead connection")
	}
	if _, ok := decide(&events.Connected{}, now); ok {
		t.Error("Connected counts as a problem")
	}
}

// TestRetryStateBacksOffUntilConnected: attempts that never come up wait ever longer; a connection
// that came up, or the user, makes the next attempt go at once; each alert kind is shown once per
// connection.
func TestRetryStateBacksOffUntilConnected(t *testing.T) {
	var r retryState
	r.delays.rand = func() float64 { return 0.5 } // no jitter
	var waits []time.Duration
	for range 4 {
		waits = append(waits, r.beforeAttempt())
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	r.connected()
	if w := r.beforeAttempt(); w != 0 {
		t.Fatalf("first attempt after a connection waits %v", w)
	}
	if w := r.beforeAttempt(); w != time.Second {
		t.Fatalf("backoff did not restart: %v", w)
	}
	gen := r.schedule()
	r.now()
	if r.current(gen) {
		t.Fatal("a user reconnect did not cancel the scheduled retry")
	}
	if w := r.beforeAttempt(); w != 0 {
		t.Fatalf("attempt the user asked for waits %v", w)
	}
	if !r.firstAlert(AlertTemporaryBan) || r.firstAlert(AlertTemporaryBan) {
		t.Fatal("ban alert not shown exactly once")
	}
	if !r.firstAlert(AlertClientOutdated) {
		t.Fatal("another kind was suppressed")
	}
	r.connected()
	if !r.firstAlert(AlertTemporaryBan) {
		t.Fatal("alert suppressed after the connection was back")
	}
}

// TestRefusalsAlertOnce: the same refusal twice in a row tells the owner once.
func TestRefusalsAlertOnce(t *testing.T) {
	h := &fakeHandler{}
	l := newTestLogin(h)
	l.handleEvent(nil, &events.ClientOutdated{})
	l.handleEvent(nil, &events.ClientOutdated{})
	if got := h.took(); len(got) != 1 {
		t.Fatalf("handler calls %v, want one alert", got)
	}
	l.handleEvent(nil, &events.Connected{})
	l.handleEvent(nil, &events.ClientOutdated{})
	if got := h.took(); fmt.Sprint(got) != fmt.Sprintf("[Connected Alert %d]", AlertClientOutdated) {
		t.Fatalf("handler calls %v after reconnecting, want Connected then the alert again", got)
	}
}
