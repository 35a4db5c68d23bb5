package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// AppserviceMatrix implements Matrix with mautrix's appservice API: the bot and the ghosts act
// through their intents (the homeserver's ?user_id= masquerading), and the appservice's state store
// caches memberships. This is the only file of the package that knows about the appservice.
type AppserviceMatrix struct {
	as *appservice.AppService
	// crypto encrypts what the bot and ghosts send in encrypted rooms (nil: no encryption);
	// cryptoSet are the users whose client has it already.
	crypto     mautrix.CryptoHelper
	cryptoSet  map[id.UserID]bool
	cryptoLock sync.Mutex
	// directLock serialises the read-modify-write of m.direct account data (MarkDirect), so two
	// DM portals of one ghost created at once do not drop each other's room.
	directLock sync.Mutex
	// MaxDownload bounds the size of a downloaded file in bytes; 0 means msgconv.MaxMediaSize.
	MaxDownload int64
	// dp lets own ghosts act as their users' real accounts (doublepuppet.go); nil: off.
	dp *doublePuppeting
	// IsGhost reports whether a user ID is one of the bridge's ghosts (puppet.Manager.IsGhost);
	// nil: none is known, and a double-puppeted send's look reads as the real account.
	IsGhost func(id.UserID) bool
}

var _ Matrix = (*AppserviceMatrix)(nil)

// NewAppserviceMatrix returns the Matrix of an appservice.
func NewAppserviceMatrix(as *appservice.AppService) *AppserviceMatrix {
	return &AppserviceMatrix{as: as}
}

// SetCrypto makes the bot and the ghosts encrypt what they send in encrypted rooms with helper
// (whose state store, the appservice's, says which rooms are). Call it before the first use.
func (m *AppserviceMatrix) SetCrypto(helper mautrix.CryptoHelper) {
	m.crypto = helper
	m.cryptoSet = make(map[id.UserID]bool)
}

func (m *AppserviceMatrix) intent(user id.UserID) (*appservice.IntentAPI, error) {
	intent := m.as.Intent(user)
	if intent == nil {
		return nil, fmt.Errorf("no intent for %s: user ID is not on the appservice's homeserver", user)
	}
	if m.crypto != nil {
		m.cryptoLock.Lock()
		if !m.cryptoSet[user] {
			intent.Client.Crypto = m.crypto
			m.cryptoSet[user] = true
		}
		m.cryptoLock.Unlock()
	}
	return intent, nil
}

// IsEncrypted implements Matrix.
func (m *AppserviceMatrix) IsEncrypted(ctx context.Context, roomID id.RoomID) bool {
	if m.crypto == nil {
		return false
	}
	encrypted, err := m.as.StateStore.IsEncrypted(ctx, roomID)
	return err == nil && encrypted
}

// BotMXID implements Matrix.
func (m *AppserviceMatrix) BotMXID() id.UserID {
	return m.as.BotMXID()
}

// SendEvent implements Matrix. Under double puppeting the user's real account sends, else the
// ghost; either way the content carries its transaction ID (sendMarked).
func (m *AppserviceMatrix) SendEvent(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, content any, ts int64, txnID string) (id.EventID, error) {
	if cli := m.realClient(ctx, user, roomID); cli != nil {
		reader := func() (*mautrix.Client, bool) { return m.lookReader(ctx, roomID, cli) }
		evtID, err := sendMarked(ctx, reader, roomID, markDoublePuppeted(content), txnID, func(content any) (*mautrix.RespSendEvent, error) {
			return cli.SendMessageEvent(ctx, roomID, evtType, content, mautrix.ReqSendEvent{Timestamp: ts, TransactionID: txnID})
		})
		if err == nil {
			return evtID, nil
		} else if !errors.Is(err, mautrix.MForbidden) {
			return "", err
		}
		// The user left the room meanwhile: the ghost posts instead, from now on.
		m.setJoined(cli.UserID, roomID, false)
	}
	intent, err := m.intent(user)
	if err != nil {
		return "", err
	}
	reader := func() (*mautrix.Client, bool) { return intent.Client, user != m.as.BotMXID() }
	return sendMarked(ctx, reader, roomID, content, txnID, func(content any) (*mautrix.RespSendEvent, error) {
		return intent.SendMessageEvent(ctx, roomID, evtType, content, mautrix.ReqSendEvent{Timestamp: ts, TransactionID: txnID})
	})
}

// sendMarked sends content through send with txnID under TxnIDKey (resend_check.go). Under
// WithMaybeSent it first looks for an earlier attempt's event in roomID, read through the client
// reader returns (a ghost's by sync, else the sender's own by /messages; see latestEvents), and returns that event's ID instead of sending again; when the homeserver
// does not answer that look it returns the look's error and sends nothing (findSentUntil).
// Without a txnID it just sends.
func sendMarked(ctx context.Context, reader func() (*mautrix.Client, bool), roomID id.RoomID, content any, txnID string, send func(content any) (*mautrix.RespSendEvent, error)) (id.EventID, error) {
	if txnID != "" {
		content = withTxnMarker(content, txnID)
		if maybe, lookUntil := maybeSent(ctx); maybe {
			client, bySync := reader()
			evtID, err := findSentUntil(ctx, client, bySync, roomID, txnID, lookUntil)
			if err != nil {
				return "", err
			}
			if evtID != "" {
				zerolog.Ctx(ctx).Info().Stringer("event_id", evtID).Str("txn_id", txnID).
					Msg("Event was already sent by an earlier attempt; not sending it again")
				return evtID, nil
			}
		}
	}
	resp, err := send(content)
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// lookReader returns the client through which a send from real, a user's real account (double
// puppeting), looks for an earlier attempt's event in roomID, and whether it reads by sync (see
// latestEvents): a ghost joined to the room (not the bot), which sees the same timeline and is in
// few rooms, when the state store knows one; else real itself, which may be in hundreds of rooms,
// by /messages.
func (m *AppserviceMatrix) lookReader(ctx context.Context, roomID id.RoomID, real *mautrix.Client) (*mautrix.Client, bool) {
	members, err := m.as.StateStore.GetRoomJoinedOrInvitedMembers(ctx, roomID)
	if err != nil {
		return real, false
	}
	for _, member := range members {
		if m.IsGhost == nil || member == m.as.BotMXID() || !m.IsGhost(member) || !m.as.StateStore.IsInRoom(ctx, roomID, member) {
			continue
		}
		if intent, err := m.intent(member); err == nil {
			return intent.Client, true
		}
	}
	return real, false
}

// Redact implements Matrix.
func (m *AppserviceMatrix) Redact(ctx context.Context, user id.UserID, roomID id.RoomID, target id.EventID, txnID string) error {
	if cli := m.realClient(ctx, user, roomID); cli != nil {
		_, err := cli.RedactEvent(ctx, roomID, target, mautrix.ReqRedact{TxnID: txnID, Extra: map[string]any{DoublePuppetMarker: true}})
		return err
	}
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	_, err = intent.RedactEvent(ctx, roomID, target, mautrix.ReqRedact{TxnID: txnID})
	return err
}

// SetState implements Matrix.
func (m *AppserviceMatrix) SetState(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, stateKey string, content any, ts int64) (id.EventID, error) {
	intent, err := m.intent(user)
	if err != nil {
		return "", err
	}
	resp, err := intent.SendStateEvent(ctx, roomID, evtType, stateKey, content, mautrix.ReqSendEvent{Timestamp: ts})
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// PowerLevels implements Matrix.
func (m *AppserviceMatrix) PowerLevels(ctx context.Context, roomID id.RoomID) (*event.PowerLevelsEventContent, error) {
	return m.as.BotIntent().PowerLevels(ctx, roomID)
}

// Upload implements Matrix.
func (m *AppserviceMatrix) Upload(ctx context.Context, user id.UserID, data []byte, mimeType, fileName string) (id.ContentURI, error) {
	intent, err := m.intent(user)
	if err != nil {
		return id.ContentURI{}, err
	}
	resp, err := intent.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: mimeType, FileName: fileName})
	if err != nil {
		return id.ContentURI{}, err
	}
	return resp.ContentURI, nil
}

// Download implements Matrix. It fetches the file from the homeserver's media repository (the only
// host the bridge downloads Matrix media from) and reads at most MaxDownload bytes: a larger file,
// or one whose Content-Length says so, fails with msgconv.ErrMediaTooLarge before the rest is read.
func (m *AppserviceMatrix) Download(ctx context.Context, uri id.ContentURI) ([]byte, error) {
	limit := m.MaxDownload
	if limit <= 0 {
		limit = msgconv.MaxMediaSize
	}
	resp, err := m.as.BotClient().Download(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s has %d bytes, the limit is %d", msgconv.ErrMediaTooLarge, uri, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", uri, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s has more than %d bytes", msgconv.ErrMediaTooLarge, uri, limit)
	}
	return data, nil
}

// CreateRoom implements Matrix.
func (m *AppserviceMatrix) CreateRoom(ctx context.Context, user id.UserID, req *mautrix.ReqCreateRoom) (id.RoomID, error) {
	intent, err := m.intent(user)
	if err != nil {
		return "", err
	}
	resp, err := intent.CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	_ = m.as.StateStore.SetMembership(ctx, resp.RoomID, user, event.MembershipJoin)
	for _, state := range req.InitialState {
		if state.Type == event.StateEncryption {
			// Known before the event comes back from the homeserver: the first message is
			// encrypted already.
			if content, ok := state.Content.Parsed.(*event.EncryptionEventContent); ok {
				_ = m.as.StateStore.SetEncryptionEvent(ctx, resp.RoomID, content)
			}
		}
	}
	return resp.RoomID, nil
}

// EnsureJoined implements Matrix.
func (m *AppserviceMatrix) EnsureJoined(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	if m.realClient(ctx, user, roomID) != nil {
		return nil
	}
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	return intent.EnsureJoined(ctx, roomID, appservice.EnsureJoinedParams{BotOverride: m.as.BotClient()})
}

// Join implements Matrix.
func (m *AppserviceMatrix) Join(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	_, err = intent.JoinRoomByID(ctx, roomID)
	return err
}

// Invite implements Matrix.
func (m *AppserviceMatrix) Invite(ctx context.Context, user id.UserID, roomID id.RoomID, invitee id.UserID) error {
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	if _, err = intent.InviteUser(ctx, roomID, &mautrix.ReqInviteUser{UserID: invitee}); err != nil {
		if isForbidden(err) {
			// Homeservers answer 403 both to inviting a member and to an invite that is not
			// allowed (no power, banned): only the first is a success.
			if ms := m.Membership(ctx, roomID, invitee); ms == event.MembershipJoin || ms == event.MembershipInvite {
				return nil
			}
		}
		return err
	}
	_ = m.as.StateStore.SetMembership(ctx, roomID, invitee, event.MembershipInvite)
	return nil
}

// isForbidden recognises a 403 M_FORBIDDEN answer.
func isForbidden(err error) bool {
	var httpErr mautrix.HTTPError
	return errors.As(err, &httpErr) && httpErr.RespError != nil && httpErr.RespError.ErrCode == "M_FORBIDDEN" &&
		httpErr.Response != nil && httpErr.Response.StatusCode == 403
}

// Kick implements Matrix.
func (m *AppserviceMatrix) Kick(ctx context.Context, user id.UserID, roomID id.RoomID, target id.UserID, reason string) error {
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	_, err = intent.KickUser(ctx, roomID, &mautrix.ReqKickUser{UserID: target, Reason: reason})
	return err
}

// Leave implements Matrix.
func (m *AppserviceMatrix) Leave(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	_, err = intent.LeaveRoom(ctx, roomID)
	return err
}

// Membership implements Matrix.
func (m *AppserviceMatrix) Membership(ctx context.Context, roomID id.RoomID, target id.UserID) event.Membership {
	if m.as.StateStore.IsInvited(ctx, roomID, target) {
		// IsInvited is true for joined members too; either way the user is in.
		if m.as.StateStore.IsInRoom(ctx, roomID, target) {
			return event.MembershipJoin
		}
		return event.MembershipInvite
	}
	if member := m.as.BotIntent().Member(ctx, roomID, target); member != nil {
		return member.Membership
	}
	return ""
}

// DisplayName implements Matrix.
func (m *AppserviceMatrix) DisplayName(ctx context.Context, roomID id.RoomID, target id.UserID) string {
	if member := m.as.BotIntent().Member(ctx, roomID, target); member != nil {
		return member.Displayname
	}
	return ""
}

// MarkRead implements Matrix.
func (m *AppserviceMatrix) MarkRead(ctx context.Context, user id.UserID, roomID id.RoomID, eventID id.EventID) error {
	if cli := m.realClient(ctx, user, roomID); cli != nil {
		// Both markers move, as when the user reads in a Matrix client.
		m.dp.users.ReceiptSent(cli.UserID, roomID, eventID)
		return cli.SetReadMarkers(ctx, roomID, &mautrix.ReqSetReadMarkers{Read: eventID, FullyRead: eventID})
	}
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	return intent.MarkRead(ctx, roomID, eventID)
}

// SetTyping implements Matrix.
func (m *AppserviceMatrix) SetTyping(ctx context.Context, user id.UserID, roomID id.RoomID, typing bool, timeout time.Duration) error {
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	_, err = intent.UserTyping(ctx, roomID, typing, timeout)
	return err
}

// MarkDirect implements Matrix.
func (m *AppserviceMatrix) MarkDirect(ctx context.Context, user, with id.UserID, roomID id.RoomID) error {
	var cli *mautrix.Client
	if m.dp != nil && m.dp.users.Active(user) {
		cli = m.dpClient(user)
	} else {
		intent, err := m.intent(user)
		if err != nil {
			return err
		}
		cli = intent.Client
	}
	m.directLock.Lock()
	defer m.directLock.Unlock()
	direct := event.DirectChatsEventContent{}
	if err := cli.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil && !errors.Is(err, mautrix.MNotFound) {
		// Writing now would replace the user's other direct chats with this one.
		return fmt.Errorf("failed to read m.direct: %w", err)
	}
	if slices.Contains(direct[with], roomID) {
		return nil
	}
	direct[with] = append(direct[with], roomID)
	if err := cli.SetAccountData(ctx, event.AccountDataDirectChats.Type, direct); err != nil {
		return fmt.Errorf("failed to set m.direct: %w", err)
	}
	return nil
}
