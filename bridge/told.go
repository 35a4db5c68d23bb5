package bridge

import "errors"

// toldError is a failure to bridge a Matrix event that retrying cannot fix and that the room was
// already told about (a PermanentError from the portal): the inbox marks the event failed at once,
// without another notice or attempt.
type toldError struct{ err error }

func (e toldError) Error() string { return e.err.Error() }
func (e toldError) Unwrap() error { return e.err }

// errNoPermission is why an event from a user below the user level is not bridged.
var errNoPermission = errors.New("sender is not allowed to use the bridge")
