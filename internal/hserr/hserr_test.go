package hserr

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
)

func answered(code int, errcode string) error {
	err := mautrix.HTTPError{Response: &http.Response{StatusCode: code}}
	if errcode != "" {
		err.RespError = &mautrix.RespError{ErrCode: errcode, StatusCode: code}
	}
	// Wrapped as the bridge's callers see it.
	return fmt.Errorf("sending event: %w", err)
}

func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                   string
		err                                    error
		unanswered, misrouted, transient, perm bool
		noResponse                             bool
	}{
		{name: "no response", err: mautrix.HTTPError{Message: "connection refused"}, unanswered: true, transient: true, noResponse: true},
		{name: "homeserver request's network error", err: fmt.Errorf("get: %w", mautrix.HTTPError{WrappedError: &net.OpError{Op: "dial", Err: errors.New("refused")}}), unanswered: true, transient: true, noResponse: true},
		{name: "connection closed without an answer", err: fmt.Errorf("failed to download mxc://hs/x: %w", mautrix.HTTPError{WrappedError: errors.New("EOF")}), unanswered: true, transient: true, noResponse: true},
		{name: "other network error", err: fmt.Errorf("upload: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), transient: true},
		{name: "502 from a proxy", err: answered(http.StatusBadGateway, ""), unanswered: true, transient: true},
		{name: "500 from the homeserver", err: answered(http.StatusInternalServerError, "M_UNKNOWN"), unanswered: true, transient: true},
		{name: "rate limited", err: answered(http.StatusTooManyRequests, "M_LIMIT_EXCEEDED"), unanswered: true, transient: true},
		{name: "404 without a Matrix body", err: answered(http.StatusNotFound, ""), misrouted: true, transient: true},
		{name: "405 unrecognized", err: answered(http.StatusMethodNotAllowed, "M_UNRECOGNIZED"), misrouted: true, transient: true},
		{name: "404 of an unknown room", err: answered(http.StatusNotFound, "M_NOT_FOUND"), perm: true},
		{name: "forbidden", err: answered(http.StatusForbidden, "M_FORBIDDEN"), perm: true},
		{name: "too large", err: answered(http.StatusRequestEntityTooLarge, "M_TOO_LARGE"), perm: true},
		{name: "bad JSON", err: answered(http.StatusBadRequest, "M_BAD_JSON"), perm: true},
		{name: "plain error", err: errors.New("conversion failed")},
		{name: "nil", err: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Unanswered(tt.err); got != tt.unanswered {
				t.Errorf("Unanswered = %v, want %v", got, tt.unanswered)
			}
			if got := Misrouted(tt.err); got != tt.misrouted {
				t.Errorf("Misrouted = %v, want %v", got, tt.misrouted)
			}
			if got := Transient(tt.err); got != tt.transient {
				t.Errorf("Transient = %v, want %v", got, tt.transient)
			}
			if got := Permanent(tt.err); got != tt.perm {
				t.Errorf("Permanent = %v, want %v", got, tt.perm)
			}
			if code := StatusCode(tt.err); (code != 0) != (tt.perm || tt.misrouted || (tt.unanswered && !tt.noResponse)) {
				t.Errorf("StatusCode = %d", code)
			}
		})
	}
}
