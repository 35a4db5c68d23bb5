package bridge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

func httpErr(status int, code, msg string) error {
	return mautrix.HTTPError{
		Request:   &http.Request{Method: http.MethodPut, URL: nil},
		Response:  &http.Response{StatusCode: status},
		RespError: &mautrix.RespError{ErrCode: code, Err: msg, StatusCode: status},
		Message:   "request to https://hs.example/_matrix/client/v3/rooms?access_token=secret failed",
	}
}

// TestWhatsAppInboxErrorClasses: what waits for recovery (retried for as long as it takes) and
// what is given up at once.
func TestWhatsAppInboxErrorClasses(t *testing.T) {
	waits := []error{
		httpErr(http.StatusBadGateway, "", "bad gateway"),
		httpErr(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", "slow down"),
		mautrix.HTTPError{WrappedError: errors.New("connection refused")},
		fmt.Errorf("failed to download: %w", msgconv.ErrNotConnected),
		portal.ErrNotConnected,
		// Answered by something other than the homeserver (a proxy whose homeserver restarts,
		// another service on its port): nothing wrong with the event.
		httpErr(http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized endpoint"),
		mautrix.HTTPError{Response: &http.Response{StatusCode: http.StatusNotFound}, ResponseBody: "<html>404</html>"},
		httpErr(http.StatusMethodNotAllowed, "", ""),
	}
	for _, err := range waits {
		if !waitsForRecovery(err) {
			t.Errorf("%v does not wait for recovery", err)
		}
	}
	for _, err := range []error{httpErr(http.StatusForbidden, "M_FORBIDDEN", "no power"), httpErr(http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "too big"),
		httpErr(http.StatusNotFound, "M_NOT_FOUND", "unknown room")} {
		if waitsForRecovery(err) || !hserr.Permanent(err) {
			t.Errorf("%v is not given up at once", err)
		}
	}
}

// TestUnbridgedNotice: the room hears whose message from when failed and why, without the
// request's URL; receipts get no notice.
func TestUnbridgedNotice(t *testing.T) {
	info := types.MessageInfo{
		MessageSource: types.MessageSource{Sender: types.NewJID("4917600000002", types.DefaultUserServer)},
		ID:            "3EB0", Timestamp: time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC),
	}
	row := &database.WhatsAppInboxEvent{Kind: whatsapp.EventKindMessage}
	text := unbridgedNotice(row, &events.Message{Info: info}, httpErr(http.StatusForbidden, "M_FORBIDDEN", "no power"))
	for _, want := range []string{"+4917600000002", "2026-11-30 04:00 UTC", "M_FORBIDDEN: no power", "could not be bridged"} {
		if !strings.Contains(text, want) {
			t.Errorf("notice %q does not contain %q", text, want)
		}
	}
	if strings.Contains(text, "access_token") {
		t.Errorf("notice %q leaks the request URL", text)
	}
	info.PushName = "Carol"
	if text = unbridgedNotice(row, &events.Message{Info: info}, errors.New("conversion failed")); !strings.Contains(text, "from Carol") {
		t.Errorf("notice %q does not name the sender by push name", text)
	}
	if text = unbridgedNotice(&database.WhatsAppInboxEvent{Kind: whatsapp.EventKindReceipt}, &events.Receipt{}, errors.New("x")); text != "" {
		t.Errorf("a receipt got the notice %q", text)
	}
	if text = unbridgedNotice(&database.WhatsAppInboxEvent{Kind: "message"}, nil, whatsapp.ErrUnknownEventForm); !strings.Contains(text, "could not be bridged") {
		t.Errorf("an unreadable event got the notice %q", text)
	}
}

// TestSendOutcomeUnknown: only failures that may have left the event stored make a retry look for
// it longer: 5xx answers and broken connections, not refused ones or 4xx answers.
func TestSendOutcomeUnknown(t *testing.T) {
	answer := func(code int) error {
		return mautrix.HTTPError{Response: &http.Response{StatusCode: code}}
	}
	transport := func(err error) error {
		return fmt.Errorf("failed to send message to Matrix: %w", mautrix.HTTPError{Message: "request error", WrappedError: err})
	}
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"500 while stopping": {answer(500), true},
		"504 from a proxy":   {answer(504), true},
		"connection reset":   {transport(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		"EOF":                {transport(io.ErrUnexpectedEOF), true},
		"refused":            {transport(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), false},
		"403":                {answer(403), false},
		"429":                {answer(429), false},
		"not an HTTP error":  {errors.New("conversion failed"), false},
	} {
		if got := sendOutcomeUnknown(c.err); got != c.want {
			t.Errorf("%s: sendOutcomeUnknown = %v, want %v", name, got, c.want)
		}
	}
}
