package portal

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// WAClient is what a portal needs from one WhatsApp connection. *whatsmeow.Client implements it.
type WAClient interface {
	// SendMessage sends msg to the chat; extra.ID fixes the message ID so a retry reuses it.
	SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	BuildEdit(chat types.JID, id types.MessageID, newContent *waE2E.Message) *waE2E.Message
	BuildRevoke(chat, sender types.JID, id types.MessageID) *waE2E.Message
	BuildReaction(chat, sender types.JID, id types.MessageID, reaction string) *waE2E.Message
	// BuildPollCreation builds a poll with a fresh message secret (whatsmeow stores it on send);
	// selectable 0 lets voters choose any number of options.
	BuildPollCreation(name string, optionNames []string, selectable int) *waE2E.Message
	// BuildPollVote builds a vote on the poll described by pollInfo, encrypted with the poll's
	// message secret; it fails when the secret is unknown.
	BuildPollVote(ctx context.Context, pollInfo *types.MessageInfo, optionNames []string) (*waE2E.Message, error)
	// DecryptPollVote decrypts the poll vote in vote with the poll's message secret.
	DecryptPollVote(ctx context.Context, vote *events.Message) (*waE2E.PollVoteMessage, error)
	// SetDisappearingTimer changes a chat's disappearing-messages timer (0: off): a protocol
	// message in a 1:1 chat, a group change in a group. WhatsApp refuses timers its apps do not offer.
	SetDisappearingTimer(ctx context.Context, chat types.JID, timer time.Duration, settingTS time.Time) error
	GenerateMessageID() types.MessageID
	GetGroupInfo(ctx context.Context, jid types.JID) (*types.GroupInfo, error)
	// SetGroupName and SetGroupTopic change a group's info; WhatsApp answers a refusal with an
	// *whatsmeow.IQError (401 when the group's info is locked to admins).
	SetGroupName(ctx context.Context, jid types.JID, name string) error
	SetGroupTopic(ctx context.Context, jid types.JID, previousID, newID, topic string) error
	// UpdateGroupParticipants adds, removes, promotes or demotes members; a refusal for one member
	// is its result's Error code, a refusal of the whole request an *whatsmeow.IQError.
	UpdateGroupParticipants(ctx context.Context, jid types.JID, changes []types.JID, action whatsmeow.ParticipantChange) ([]types.GroupParticipant, error)
	// SetGroupPhoto sets a group's picture (a JPEG; nil removes it) and returns its new ID;
	// WhatsApp refuses other formats (406, whatsmeow.ErrInvalidImageFormat) and non-admins of a
	// group whose info is locked (401).
	SetGroupPhoto(ctx context.Context, jid types.JID, avatar []byte) (string, error)
	// CreateGroup creates a group with the account as its admin; participants WhatsApp could not
	// add carry an Error code in the answer.
	CreateGroup(ctx context.Context, req whatsmeow.ReqCreateGroup) (*types.GroupInfo, error)
	// LeaveGroup makes the account leave a group.
	LeaveGroup(ctx context.Context, jid types.JID) error
	MarkRead(ctx context.Context, ids []types.MessageID, timestamp time.Time, chat, sender types.JID, receiptTypeExtra ...types.ReceiptType) error
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	IsLoggedIn() bool
	// SendMediaRetryReceipt asks the account's phone to upload again the attachment of message,
	// encrypted with mediaKey; the answer comes as an *events.MediaRetry.
	SendMediaRetryReceipt(ctx context.Context, message *types.MessageInfo, mediaKey []byte) error
	// Download fetches and decrypts the attachment of an image, video, audio, document or sticker
	// sub-message. A 404 or 410 means WhatsApp no longer has the file.
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
	// Upload encrypts and uploads plaintext; the response fills the media fields of the message.
	Upload(ctx context.Context, plaintext []byte, appInfo whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
}

var _ WAClient = (*whatsmeow.Client)(nil)

// Login is one bridge user's WhatsApp account, as a portal sees it.
type Login interface {
	// UserMXID is the Matrix user who owns the login.
	UserMXID() id.UserID
	// OwnJID is the account's phone JID without device (empty when not logged in).
	OwnJID() types.JID
	// Client returns the connection, or nil when the user is not connected right now.
	Client() WAClient
	// LIDs resolves LIDs and phone JIDs with this account's store.
	LIDs() puppet.LIDResolver
	// Avatar looks up the picture of a user or group: nil when unchanged since existingID or not
	// available right now, puppet.NoAvatar when there is none.
	Avatar(ctx context.Context, jid types.JID, existingID string) (*puppet.Avatar, error)
	// DoublePuppeted reports whether the user's own ghost acts as the user's real Matrix account
	// (double puppeting configured and on for this user).
	DoublePuppeted() bool
}

// Users finds the bridge users a portal deals with. Implementations must be safe for concurrent use.
type Users interface {
	// LoginByMXID returns the login a Matrix user acts through in the chat of key (the zero key
	// for no chat): a user may have several WhatsApp accounts, so for a 1:1 chat this is the
	// account the chat belongs to (its receiver), for a group one of the user's accounts in the
	// group (the default login when it is one of them or nothing is known); otherwise the user's
	// default login; nil when the user has none.
	LoginByMXID(ctx context.Context, userID id.UserID, key database.PortalKey) Login
	// LoginByJID returns the login of a WhatsApp account (phone JID or LID, any device), or nil.
	LoginByJID(ctx context.Context, jid types.JID) Login
	// RoomCreated is told, on the portal's goroutine, that the portal of chat now has the room
	// roomID, created for login's user. It may make homeserver requests; errors are its own.
	RoomCreated(ctx context.Context, login Login, chat types.JID, roomID id.RoomID)
}
