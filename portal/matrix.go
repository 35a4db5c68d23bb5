package portal

import (
	"context"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Matrix is everything a portal asks of the Matrix homeserver. Each call acts as one user: the
// bridge bot or a ghost, named by its user ID. AppserviceMatrix implements it over the appservice
// API; tests use a fake. Encryption and metrics attach here.
//
// A ghost must be registered (puppet.Puppet.EnsureRegistered) before it is named as the acting
// user. Implementations must be safe for concurrent use: receipts and typing call them outside the
// portal goroutine.
//
// Every method may block on the network for as long as ctx allows. Errors are wrapped so that the
// bridge can tell them apart with errors.As and errors.Is: an error wrapping a mautrix.HTTPError
// with no response or a 5xx/429 response, or a net.Error, is transient (the homeserver is down,
// overloaded or rate limiting; the caller retries later); any other error (4xx, e.g.
// mautrix.MForbidden) is permanent for that request.
type Matrix interface {
	// BotMXID returns the bridge bot's user ID. It does no I/O.
	BotMXID() id.UserID

	// SendEvent sends a message-like event to roomID as user, joining user to the room first if
	// needed. ts (Unix milliseconds, 0 for "now") becomes the event's origin timestamp. txnID is the
	// transaction ID (empty for a fresh one); the homeserver deduplicates per appservice on it, so
	// a repeat with the same txnID returns the first event's ID instead of sending twice.
	SendEvent(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, content any, ts int64, txnID string) (id.EventID, error)
	// Redact redacts target in roomID as user; txnID deduplicates like SendEvent's.
	Redact(ctx context.Context, user id.UserID, roomID id.RoomID, target id.EventID, txnID string) error
	// SetState sends a state event as user, with ts as in SendEvent.
	SetState(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, stateKey string, content any, ts int64) (id.EventID, error)
	// IsEncrypted reports whether events sent to roomID are encrypted (end-to-bridge encryption is
	// on and the room has m.room.encryption). Attachments for such a room are uploaded encrypted.
	// A failed lookup counts as false. It may ask the homeserver once per room.
	IsEncrypted(ctx context.Context, roomID id.RoomID) bool
	// PowerLevels returns the room's power levels as the bot sees them (cached state first).
	PowerLevels(ctx context.Context, roomID id.RoomID) (*event.PowerLevelsEventContent, error)

	// Upload stores data in the media repository as user and returns its mxc URI. fileName may be
	// empty.
	Upload(ctx context.Context, user id.UserID, data []byte, mimeType, fileName string) (id.ContentURI, error)
	// Download fetches the content behind an mxc URI as the bot.
	Download(ctx context.Context, uri id.ContentURI) ([]byte, error)

	// CreateRoom creates a room with user as its creator and returns its ID. The creator counts as
	// joined and req.Invite as invited from then on (see Membership).
	CreateRoom(ctx context.Context, user id.UserID, req *mautrix.ReqCreateRoom) (id.RoomID, error)
	// EnsureJoined makes user a member of roomID unless it is known to be one already. When the
	// join is refused (the room needs an invite) the bot invites user and it joins again.
	EnsureJoined(ctx context.Context, user id.UserID, roomID id.RoomID) error
	// Join accepts an invite (or joins a public room) as user, with no bot fallback.
	Join(ctx context.Context, user id.UserID, roomID id.RoomID) error
	// Invite invites invitee to roomID as user. An invitee who is already in the room is success.
	Invite(ctx context.Context, user id.UserID, roomID id.RoomID, invitee id.UserID) error
	// Kick removes target from roomID as user, giving reason.
	Kick(ctx context.Context, user id.UserID, roomID id.RoomID, target id.UserID, reason string) error
	// Leave makes user leave roomID.
	Leave(ctx context.Context, user id.UserID, roomID id.RoomID) error
	// Membership returns target's membership in roomID: from the bridge's cache of what it did and
	// saw, else asked of the homeserver as the bot. It returns "" when unknown or on error (it
	// never fails: callers use it to skip work, and doing the work again is harmless).
	Membership(ctx context.Context, roomID id.RoomID, target id.UserID) event.Membership
	// DisplayName returns target's display name in roomID, asked of the homeserver as the bot; ""
	// when there is none or on error.
	DisplayName(ctx context.Context, roomID id.RoomID, target id.UserID) string

	// MarkRead moves user's read receipt and read marker in roomID to eventID.
	MarkRead(ctx context.Context, user id.UserID, roomID id.RoomID, eventID id.EventID) error
	// SetTyping shows user as typing in roomID for timeout, or stops it when typing is false.
	SetTyping(ctx context.Context, user id.UserID, roomID id.RoomID, typing bool, timeout time.Duration) error
	// MarkDirect adds roomID to user's m.direct account data as the direct chat with with (nothing
	// when it is listed already). A missing m.direct counts as empty; one that cannot be read is an
	// error and nothing is written, so the user's other direct chats are never replaced.
	MarkDirect(ctx context.Context, user, with id.UserID, roomID id.RoomID) error
}
