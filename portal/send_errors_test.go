package portal

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

func TestClassifySendError(t *testing.T) {
	chat := types.NewJID("4917600000002", types.DefaultUserServer)
	// whatsmeow's own wrapping of a refused ack (send.go).
	refused := fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 463)
	var perm PermanentError
	if got := classifySendError(refused, chat); !errors.As(got, &perm) || !errors.Is(got, ErrFirstMessageRefused) ||
		!strings.Contains(got.Error(), "+4917600000002") {
		t.Errorf("463: got %v, want a permanent first-message refusal naming the number", got)
	}
	for _, err := range []error{whatsmeow.ErrNotConnected, fmt.Errorf("failed to get device list: %w", whatsmeow.ErrIQTimedOut), whatsmeow.ErrMessageTimedOut} {
		// Unanswered by WhatsApp: the message waits for the connection, the room is told.
		if got := classifySendError(err, chat); !errors.Is(got, ErrNotConnected) {
			t.Errorf("%v: got %v, want it to wait for the connection", err, got)
		}
	}
	other := fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 500)
	if got := classifySendError(other, chat); errors.As(got, &perm) || errors.Is(got, ErrNotConnected) || !errors.Is(got, whatsmeow.ErrServerReturnedError) {
		t.Errorf("500: got %v, want a retryable error", got)
	}
	forbidden := fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 403)
	if got := classifySendError(forbidden, chat); !errors.As(got, &perm) || !strings.Contains(got.Error(), "error 403") {
		t.Errorf("403: got %v, want a permanent refusal naming the code", got)
	}
	for _, code := range []int{408, 429} {
		limited := fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, code)
		if got := classifySendError(limited, chat); errors.As(got, &perm) || errors.Is(got, ErrNotConnected) {
			t.Errorf("%d: got %v, want a retryable error", code, got)
		}
	}
	if got := serverErrorCode(errors.New("server returned error 463")); got != 0 {
		t.Errorf("an error that is not whatsmeow's has code %d", got)
	}
}
