package portal

import "errors"

// ErrNotConnected means the user's WhatsApp connection is down. The event is not lost: the caller
// keeps it and tries again when the connection is back, without counting it as a failed attempt
// (WhatsApp outages can last hours).
var ErrNotConnected = errors.New("not connected to WhatsApp")

// ErrStopping means the bridge is shutting down: no portal takes new events. The event is not
// lost (WhatsApp delivers an unacknowledged message again, the Matrix inbox keeps its row).
var ErrStopping = errors.New("the bridge is stopping")

// PermanentError marks a failure that retrying cannot fix (e.g. an unsupported message type). The
// caller gives up at once and tells the user.
type PermanentError struct{ Err error }

func (e PermanentError) Error() string { return e.Err.Error() }
func (e PermanentError) Unwrap() error { return e.Err }

func permanent(err error) error {
	return PermanentError{Err: err}
}
