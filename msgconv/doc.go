// Package msgconv converts messages between WhatsApp and Matrix: the markup of their text
// (WhatsApp's *bold*, _italic_ and @digits mentions to Matrix HTML and pills, and back) and every
// message kind (text, media, location, contact card, poll, and a notice for the kinds not bridged).
//
// It does no networking of its own and knows nothing of portals, logins or the database:
// attachments move through the WhatsAppMedia and MatrixMedia interfaces, and users and quoted
// messages are looked up through the resolver types, all implemented by the caller. It logs only
// through the zerolog logger carried in ctx.
//
// Files: wa_*.go convert WhatsApp to Matrix, mx_*.go Matrix to WhatsApp, markup_*.go the text of
// both, media_kind.go maps attachment kinds between the two.
//
// Invariants:
//   - FromWhatsApp.Convert returns at least one part for every message it does not fail on, so
//     nothing a WhatsApp user sends vanishes silently: kinds it cannot show become a notice naming
//     the kind, attachments that cannot be bridged (too large, gone, corrupt) a notice saying why.
//     Its error means the message must come again (connection down, transient failure).
//   - FromMatrix fails with a PermanentError when retrying cannot help, with an error wrapping
//     ErrNotConnected when it needs the WhatsApp connection and that is down, and with any other
//     error for a failure that may go away.
//   - TextToMatrix always returns a body equal to the WhatsApp text with resolved mentions
//     replaced by display names; formatted_body is set only when the text has formatting or a
//     resolved mention.
//   - TextToWhatsApp never escapes anything: WhatsApp has no escape syntax, so literal markers in
//     Matrix text are sent as they are.
//   - No function modifies its arguments.
package msgconv

import "errors"

// MaxMediaSize is the largest attachment bridged in either direction (100 MB). Both copies of a
// file live in memory while it is converted; this bounds them.
const MaxMediaSize = 100 * 1000 * 1000

var (
	// ErrNotConnected means a conversion needs the WhatsApp connection and it is down. The caller
	// keeps the message and tries again when the connection is back.
	ErrNotConnected = errors.New("not connected to WhatsApp")
	// ErrMediaNotFound is what MatrixMedia.Download wraps when the homeserver does not have the file.
	ErrMediaNotFound = errors.New("media not found")
	// ErrMediaTooLarge is what MatrixMedia.Upload wraps when the homeserver refuses the file's size.
	ErrMediaTooLarge = errors.New("media too large")
)

// PermanentError is a conversion failure that retrying cannot fix: an unsupported message type, a
// file too large, gone or undecryptable. Err's message is written for the user who sent it.
type PermanentError struct{ Err error }

// Error returns Err's message.
func (e PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e PermanentError) Unwrap() error { return e.Err }

func permanent(err error) error {
	return PermanentError{Err: err}
}
