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
//   - TextToWhatsApp keeps literal markers in Matrix text literal: WhatsApp has no escape syntax,
//     so a marker that WhatsApp would read as formatting gets an invisible word joiner (U+2060) in
//     front of it; what WhatsApp shows is the text as typed.
//   - No function modifies its arguments.
package msgconv

import (
	"context"
	"errors"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// MaxMediaSize is the largest attachment bridged in either direction (100 MB). A declared size over
// it is refused before downloading; a file whose declared size was missing or wrong is refused
// after the download, so memory per transfer is bounded by what the media server sends, not by
// this constant.
const MaxMediaSize = 100 * 1000 * 1000

var (
	// ErrNotConnected means a conversion needs the WhatsApp connection and it is down. The caller
	// keeps the message and tries again when the connection is back.
	ErrNotConnected = errors.New("not connected to WhatsApp")
	// ErrMediaNotFound is what MatrixMedia.Download wraps when the homeserver does not have the file.
	ErrMediaNotFound = errors.New("media not found")
	// ErrMediaTooLarge is what MatrixMedia.Upload wraps when the homeserver refuses the file's size,
	// and what MatrixMedia.Download wraps when the file is larger than MaxMediaSize.
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

// WhatsAppMedia moves attachment bytes to and from WhatsApp's media servers with one login's
// connection. *whatsmeow.Client implements it; callers usually wrap it to report a connection that
// went down as ErrNotConnected.
type WhatsAppMedia interface {
	// Download fetches and decrypts the attachment of an image, video, audio, document or sticker
	// message. It may block for as long as the transfer takes. An error wrapping
	// whatsmeow.ErrMediaDownloadFailedWith404 (or 403, 410) means WhatsApp no longer has the file;
	// one wrapping ErrNotConnected means the connection is down.
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
	// Upload encrypts and uploads data as mediaType; the response fills the media fields of the
	// message that carries it. An error wrapping ErrNotConnected means the connection is down.
	Upload(ctx context.Context, data []byte, mediaType whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
}

var _ WhatsAppMedia = (*whatsmeow.Client)(nil)

// MatrixMedia moves attachment bytes to and from the homeserver's media repository.
type MatrixMedia interface {
	// Upload stores data and returns its mxc:// URI. It may block for as long as the transfer
	// takes. An error wrapping ErrMediaTooLarge means the homeserver refuses files that large.
	Upload(ctx context.Context, data []byte, mimeType, fileName string) (id.ContentURIString, error)
	// Download fetches the file at uri, a valid mxc:// URI, as stored (still encrypted for an
	// encrypted attachment). An error wrapping ErrMediaNotFound means the homeserver does not have it;
	// one wrapping ErrMediaTooLarge that it is larger than MaxMediaSize (it is not read further).
	Download(ctx context.Context, uri id.ContentURIString) ([]byte, error)
}

// QuotedEventFunc returns the Matrix event a WhatsApp message was bridged as, for the reply to it.
// An empty event ID (with or without an error) means the quoted message is unknown; the reply is
// then sent as a plain message. It may block (e.g. on a database lookup).
type QuotedEventFunc func(ctx context.Context, quotedID types.MessageID) (id.EventID, error)

// QuotedMessage is the WhatsApp message a Matrix reply points at.
type QuotedMessage struct {
	// ID is the WhatsApp message ID.
	ID types.MessageID
	// Sender is the JID of the message's author as WhatsApp addresses them in the chat (a phone
	// number or LID JID), without device; it becomes ContextInfo.Participant.
	Sender types.JID
	// Message is the quoted message's content as QuoteContent returns it; nil when unknown (the
	// quote then shows an empty text).
	Message *waE2E.Message
}

// QuotedMessageFunc returns the WhatsApp message a Matrix event was bridged as, for a reply to it.
// found is false when the event was never bridged; the reply is then sent as a plain message. An
// error fails the conversion (it is returned as it is), so the caller may retry. It may block.
type QuotedMessageFunc func(ctx context.Context, eventID id.EventID) (msg QuotedMessage, found bool, err error)

// ConvertedMessage is one WhatsApp message as Matrix events.
type ConvertedMessage struct {
	// Parts are the events to send, in order; there is at least one. The index of a part is stable
	// for a given message, so it can take part in transaction IDs and the message map.
	Parts []Part
}

// Part is one Matrix event of a converted message.
type Part struct {
	// Type is the event type: m.room.message, m.sticker, or MSC3381's poll start.
	Type event.Type
	// Content is the event content; never nil.
	Content *event.MessageEventContent
	// Extra holds top-level content fields MessageEventContent has no room for (e.g. MSC3381 poll
	// or MSC3488 location keys); nil when there are none. Content's fields win on a clash.
	Extra map[string]any
	// PollAnswers are, for a poll start, the Matrix answer IDs of the poll's options in WhatsApp's
	// option order, to be kept with the message for mapping votes; nil for other parts.
	PollAnswers []string
	// ViewOnce marks a part of view-once media (see ConvertViewOnce): the caller must keep none
	// of its content (no media for edits, no file in quotes).
	ViewOnce bool
	// MediaExpired marks the notice shown for an attachment WhatsApp's servers no longer have: the
	// sender's or the receiver's phone may still have the file and can be asked to upload it again
	// (see WithDirectPath).
	MediaExpired bool
}

// EventContent returns what to send as the part's content: Content itself, or Content merged with
// Extra when there are extra fields.
func (p Part) EventContent() any {
	if len(p.Extra) == 0 {
		return p.Content
	}
	return &event.Content{Parsed: p.Content, Raw: p.Extra}
}
