package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// TestHomeserverUnavailable: an event waits (without using up its attempts) while the homeserver
// does not answer or answers 5xx/429, and is given up as usual when it refuses for good.
func TestHomeserverUnavailable(t *testing.T) {
	t.Parallel()
	answer := func(status int) error {
		return fmt.Errorf("failed to download mxc://hs/x: %w", mautrix.HTTPError{Response: &http.Response{StatusCode: status}})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no answer", fmt.Errorf("failed to download: %w", mautrix.HTTPError{WrappedError: errors.New("EOF")}), true},
		{"connection refused", fmt.Errorf("failed to download: %w", mautrix.HTTPError{WrappedError: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}), true},
		{"WhatsApp side network error", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"502", answer(http.StatusBadGateway), true},
		{"429", answer(http.StatusTooManyRequests), true},
		{"404", answer(http.StatusNotFound), false},
		{"403", answer(http.StatusForbidden), false},
		{"other", errors.New("conversion failed"), false},
	} {
		if got := hserr.Unanswered(tc.err); got != tc.want {
			t.Errorf("%s: hserr.Unanswered = %v, want %v", tc.name, got, tc.want)
		}
	}
}
