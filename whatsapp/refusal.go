package whatsapp

import (
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types/events"
)

// When WhatsApp says no. whatsmeow turns the server's <failure> and <stream:error> answers into
// events (handleConnectFailure and handleStreamError in its connectionevents.go); decide maps each
// one to what the login does about it. The rule: never hammer WhatsApp. A refusal that only the
// user can lift (outdated client, another client took over, an unknown refusal) stops all
// reconnecting until the user acts; a temporary ban waits for its expiry; a logout ends the session;
// only passing trouble (503, a dropped or silent connection) is retried, with backoff.

// banMargin is added to a ban's expiry before reconnecting: WhatsApp gives it in whole seconds, and
// coming back a little late costs nothing while coming back early is refused again.
const banMargin = time.Second

// RetryPolicy says whether and when a login connects again after a connection problem.
type RetryPolicy int

const (
	// RetryBackoff: connect again after the login's backoff delay (immediately after a connection
	// that had come up).
	RetryBackoff RetryPolicy = iota + 1
	// RetryNever: no reconnect until the user acts (`reconnect`, a new login, a bridge restart).
	RetryNever
	// RetryAt: connect again once Decision.RetryAfter has passed (the end of a ban).
	RetryAt
	// RetryEnded: the session is gone; there is nothing to reconnect.
	RetryEnded
)

// Decision is what a login does about one connection problem.
type Decision struct {
	// State is the login state to enter and Error the text kept as its last error.
	State StateEvent
	Error string
	// Alert is what the account owner is told; nil when there is nothing they need to know.
	Alert *Alert
	// Retry and RetryAfter say whether and when to connect again.
	Retry      RetryPolicy
	RetryAfter time.Duration
}

// decide maps a whatsmeow connection event to a Decision. It reports false for events that are no
// connection problem. now dates the end of a ban.
func decide(rawEvt any, now time.Time) (Decision, bool) {
	switch evt := rawEvt.(type) {
	case *events.LoggedOut:
		return Decision{State: StateLoggedOut, Error: loggedOutReason(evt), Retry: RetryEnded}, true
	case *events.TemporaryBan:
		until := now.Add(evt.Expire).UTC().Truncate(time.Second)
		d := Decision{
			State: StateBadCredentials, Retry: RetryAt, RetryAfter: evt.Expire + banMargin,
			Alert: &Alert{Kind: AlertTemporaryBan, Detail: banReason(evt.Code), Until: until},
		}
		d.Error = fmt.Sprintf("temporarily banned by WhatsApp until %s (%s)", until.Format(time.RFC3339), d.Alert.Detail)
		if evt.Expire <= 0 {
			d.Retry, d.Alert.Until = RetryNever, time.Time{}
			d.Error = fmt.Sprintf("temporarily banned by WhatsApp (%s)", d.Alert.Detail)
		}
		return d, true
	case *events.ClientOutdated:
		return Decision{
			State: StateBadCredentials, Error: "WhatsApp refuses this bridge version as outdated",
			Alert: &Alert{Kind: AlertClientOutdated}, Retry: RetryNever,
		}, true
	case *events.StreamReplaced:
		return Decision{
			State: StateBadCredentials, Error: "another client connected with this session",
			Alert: &Alert{Kind: AlertStreamReplaced}, Retry: RetryNever,
		}, true
	case *events.ConnectFailure:
		return Decision{
			State: StateBadCredentials, Error: fmt.Sprintf("WhatsApp refused the connection (%s)", evt.Reason),
			Alert: &Alert{Kind: AlertConnectFailure, Detail: evt.Reason.String()}, Retry: RetryNever,
		}, true
	case *events.StreamError:
		return Decision{State: StateTransientDisconnect, Error: fmt.Sprintf("WhatsApp ended the connection (stream error %s)", evt.Code), Retry: RetryBackoff}, true
	case *events.Disconnected:
		return Decision{State: StateTransientDisconnect, Error: "connection lost", Retry: RetryBackoff}, true
	case *events.KeepAliveTimeout:
		if evt.ErrorCount < keepAliveFailures {
			return Decision{}, false
		}
		return Decision{State: StateTransientDisconnect, Error: "WhatsApp stopped answering (keepalive timeout)", Retry: RetryBackoff}, true
	}
	return Decision{}, false
}

// loggedOutReason says in words why the session ended (events.ConnectFailureReason: 401 logged
// out, 403 main device gone, 406 banned; a LoggedOut without OnConnect is the device_removed
// stream error).
func loggedOutReason(evt *events.LoggedOut) string {
	if !evt.OnConnect {
		return "the linked device was removed from your phone"
	}
	switch evt.Reason {
	case events.ConnectFailureLoggedOut:
		return "WhatsApp logged this device out (it was removed on your phone, or your phone was offline for too long)"
	case events.ConnectFailureMainDeviceGone:
		return "WhatsApp on your phone was logged out or moved to another phone"
	case events.ConnectFailureUnknownLogout:
		return "WhatsApp logged this device out and may have banned the account"
	}
	return fmt.Sprintf("WhatsApp refused the session (%s)", evt.Reason)
}

// banReason is WhatsApp's reason for a temporary ban in words (events.TempBanReason).
func banReason(code events.TempBanReason) string {
	switch code {
	case events.TempBanSentToTooManyPeople:
		return "too many messages to people who do not have you in their contacts"
	case events.TempBanBlockedByUsers:
		return "too many people blocked you"
	case events.TempBanCreatedTooManyGroups:
		return "too many groups with people who do not have you in their contacts"
	case events.TempBanSentTooManySameMessage:
		return "the same message sent to too many people"
	case events.TempBanBroadcastList:
		return "too many messages to a broadcast list"
	}
	return fmt.Sprintf("reason %d", int(code))
}
