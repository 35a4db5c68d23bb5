package portal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// ErrFirstMessageRefused means WhatsApp refused a message to someone the account never talked
// with and holds no privacy token from (ack error 463, "reach-out timelock"). Sending again does
// not help until the other side writes first or adds the user as a contact, after which WhatsApp
// issues a token that whatsmeow attaches to later messages.
var ErrFirstMessageRefused = errors.New("WhatsApp refused a first message to a new contact")

// reachoutTimelockCode is the ack error of a refused first message (whatsmeow returns it as
// ErrServerReturnedError followed by the code, send.go).
const reachoutTimelockCode = 463

// serverErrorCode returns the error code of a message ack WhatsApp refused (whatsmeow's
// ErrServerReturnedError), or 0 for any other error.
func serverErrorCode(err error) int {
	if !errors.Is(err, whatsmeow.ErrServerReturnedError) {
		return 0
	}
	msg := err.Error()
	code, convErr := strconv.Atoi(msg[strings.LastIndexByte(msg, ' ')+1:])
	if convErr != nil {
		return 0
	}
	return code
}

// classifySendError maps a failed SendMessage to what the caller does with it: ErrNotConnected
// (the event waits for the connection), a PermanentError telling the user why (a refused first
// message, or any other refusal WhatsApp gives for good: an ack error 4xx other than 408 and 429),
// or the wrapped error (retried a few times).
func classifySendError(err error, chat types.JID) error {
	// A send interrupted by a lost connection (e.g. a silent one given up on), or one WhatsApp
	// never answered (whatsmeow's request timeouts), waits for the connection like one that never
	// started, and the room hears that WhatsApp is not reachable. Sending again later is safe: the
	// message keeps its WhatsApp ID (the outbox), which WhatsApp deduplicates.
	var disconnected *whatsmeow.DisconnectedError
	switch {
	case errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsmeow.ErrNotLoggedIn), errors.As(err, &disconnected),
		errors.Is(err, whatsmeow.ErrIQTimedOut), errors.Is(err, whatsmeow.ErrMessageTimedOut):
		return ErrNotConnected
	case serverErrorCode(err) == reachoutTimelockCode:
		who := "this contact"
		if chat.Server == types.DefaultUserServer {
			who = "+" + chat.User
		}
		return permanent(fmt.Errorf("%w: %s only accepts first messages from people they have talked with. "+
			"Ask them to write to you or to save your number, then send your message again", ErrFirstMessageRefused, who))
	case refusedForGood(serverErrorCode(err)):
		return permanent(fmt.Errorf("WhatsApp refused the message (error %d)", serverErrorCode(err)))
	}
	return fmt.Errorf("failed to send to WhatsApp: %w", err)
}

// refusedForGood reports whether a message ack error code means WhatsApp will not take the message
// however often it is sent: a client error, except a timeout (408) or a rate limit (429).
func refusedForGood(code int) bool {
	return code >= 400 && code < 500 && code != 408 && code != 429
}
