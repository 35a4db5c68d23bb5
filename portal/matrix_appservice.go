package portal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// AppserviceMatrix implements Matrix with mautrix's appservice API: the bot and the ghosts act
// through their intents (the homeserver's ?user_id= masquerading), and the appservice's state store
// caches memberships. This is the only file of the package that knows about the appservice.
type AppserviceMatrix struct {
	as *appservice.AppService
	// directLock serialises the read-modify-write of m.direct account data (MarkDirect), so two
	// DM portals of one ghost created at once do not drop each other's room.
	directLock sync.Mutex
}

var _ Matrix = (*AppserviceMatrix)(nil)

// NewAppserviceMatrix returns the Matrix of an appservice.
func NewAppserviceMatrix(as *appservice.AppService) *AppserviceMatrix {
	return &AppserviceMatrix{as: as}
}

func (m *AppserviceMatrix) intent(user id.UserID) (*appservice.IntentAPI, error) {
	intent := m.as.Intent(user)
	if intent == nil {
		return nil, fmt.Errorf("no intent for %s: user ID is not on the appservice's homeserver", user)
	}
	return intent, nil
}

// BotMXID implements Matrix.
func (m *AppserviceMatrix) BotMXID() id.UserID {
	return m.as.BotMXID()
}

// SendEvent implements Matrix.
func (m *AppserviceMatrix) SendEvent(ctx context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, content any, ts int64, txnID string) (id.EventID, error) {
	intent, err := m.intent(user)
	if err != nil {
		return "", err
	}
	resp, err := intent.SendMessageEvent(ctx, roomID, evtType, content, mautrix.ReqSendEvent{Timestamp: ts, TransactionID: txnID})
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// Redact implements Matrix.
func (m *AppserviceMatrix) Redact(ctx context.Context, user id.UserID, roomID id.RoomID, target id.EventID, txnID string) error {
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

// Download implements Matrix.
func (m *AppserviceMatrix) Download(ctx context.Context, uri id.ContentURI) ([]byte, error) {
	return m.as.BotClient().DownloadBytes(ctx, uri)
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
	return resp.RoomID, nil
}

// EnsureJoined implements Matrix.
func (m *AppserviceMatrix) EnsureJoined(ctx context.Context, user id.UserID, roomID id.RoomID) error {
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

// MarkRead implements Matrix.
func (m *AppserviceMatrix) MarkRead(ctx context.Context, user id.UserID, roomID id.RoomID, eventID id.EventID) error {
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
	intent, err := m.intent(user)
	if err != nil {
		return err
	}
	m.directLock.Lock()
	defer m.directLock.Unlock()
	direct := event.DirectChatsEventContent{}
	if err = intent.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil && !errors.Is(err, mautrix.MNotFound) {
		// Writing now would replace the user's other direct chats with this one.
		return fmt.Errorf("failed to read m.direct: %w", err)
	}
	if slices.Contains(direct[with], roomID) {
		return nil
	}
	direct[with] = append(direct[with], roomID)
	if err = intent.SetAccountData(ctx, event.AccountDataDirectChats.Type, direct); err != nil {
		return fmt.Errorf("failed to set m.direct: %w", err)
	}
	return nil
}
