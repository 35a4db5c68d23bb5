package portal

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// matrixCall is one call the fake Matrix received.
type matrixCall struct {
	method  string
	user    id.UserID
	room    id.RoomID
	evtType event.Type
	content any
	ts      int64
	txnID   string
	target  id.EventID // Redact's target, MarkRead's event, SendEvent's result
	other   id.UserID  // Invite's invitee, Kick's target
}

// fakeMatrix records every call and answers like a homeserver would: event IDs are unique, a
// repeated transaction ID returns the first event's ID. failNext makes calls fail.
type fakeMatrix struct {
	bot id.UserID

	lock    sync.Mutex
	calls   []matrixCall
	nextID  int
	byTxn   map[string]id.EventID
	members map[id.RoomID]map[id.UserID]event.Membership
	fail    map[string][]error
	// slow makes calls of a method take that long (to let the watchdog fire); set before use.
	slow map[string]time.Duration
	// before, when set (before use), runs at the start of SetState, outside the lock.
	before func(c matrixCall)
	// media, when set (before use), is what every Download returns.
	media []byte
}

var _ Matrix = (*fakeMatrix)(nil)

func newFakeMatrix(bot id.UserID) *fakeMatrix {
	return &fakeMatrix{
		bot: bot, byTxn: map[string]id.EventID{}, fail: map[string][]error{}, slow: map[string]time.Duration{},
		members: map[id.RoomID]map[id.UserID]event.Membership{},
	}
}

// transientErr is what mautrix returns for a homeserver that is down (502 Bad Gateway).
func transientErr() error {
	return mautrix.HTTPError{Response: &http.Response{StatusCode: http.StatusBadGateway}, Message: "bad gateway"}
}

// permanentErr is what mautrix returns for a refused request (403 M_FORBIDDEN).
func permanentErr() error {
	return mautrix.HTTPError{
		Response:  &http.Response{StatusCode: http.StatusForbidden},
		RespError: &mautrix.RespError{ErrCode: "M_FORBIDDEN", Err: "forbidden", StatusCode: http.StatusForbidden},
	}
}

// failNext makes the next len(errs) calls of method return errs in turn.
func (f *fakeMatrix) failNext(method string, errs ...error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	f.fail[method] = append(f.fail[method], errs...)
}

// record stores c and returns the error queued for its method, if any. Caller holds lock.
func (f *fakeMatrix) record(c matrixCall) error {
	f.calls = append(f.calls, c)
	if errs := f.fail[c.method]; len(errs) > 0 {
		f.fail[c.method] = errs[1:]
		return errs[0]
	}
	return nil
}

// callsOf returns the calls of one method, in order.
func (f *fakeMatrix) callsOf(method string) []matrixCall {
	f.lock.Lock()
	defer f.lock.Unlock()
	var out []matrixCall
	for _, c := range f.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeMatrix) newEventID() id.EventID {
	f.nextID++
	return id.EventID(fmt.Sprintf("$event%d", f.nextID))
}

func (f *fakeMatrix) setMember(room id.RoomID, user id.UserID, membership event.Membership) {
	if f.members[room] == nil {
		f.members[room] = map[id.UserID]event.Membership{}
	}
	f.members[room][user] = membership
}

func (f *fakeMatrix) BotMXID() id.UserID { return f.bot }

func (f *fakeMatrix) SendEvent(_ context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, content any, ts int64, txnID string) (id.EventID, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "SendEvent", user: user, room: roomID, evtType: evtType, content: content, ts: ts, txnID: txnID}); err != nil {
		return "", err
	}
	evtID, ok := f.byTxn[txnID]
	if !ok || txnID == "" {
		evtID = f.newEventID()
		f.byTxn[txnID] = evtID
	}
	f.calls[len(f.calls)-1].target = evtID
	return evtID, nil
}

func (f *fakeMatrix) Redact(_ context.Context, user id.UserID, roomID id.RoomID, target id.EventID, txnID string) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "Redact", user: user, room: roomID, target: target, txnID: txnID})
}

func (f *fakeMatrix) SetState(_ context.Context, user id.UserID, roomID id.RoomID, evtType event.Type, _ string, content any, ts int64) (id.EventID, error) {
	c := matrixCall{method: "SetState", user: user, room: roomID, evtType: evtType, content: content, ts: ts}
	if f.before != nil {
		f.before(c)
	}
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(c); err != nil {
		return "", err
	}
	return f.newEventID(), nil
}

func (f *fakeMatrix) IsEncrypted(context.Context, id.RoomID) bool { return false }

func (f *fakeMatrix) PowerLevels(_ context.Context, roomID id.RoomID) (*event.PowerLevelsEventContent, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "PowerLevels", room: roomID}); err != nil {
		return nil, err
	}
	return &event.PowerLevelsEventContent{Users: map[id.UserID]int{f.bot: powerSuperuser}}, nil
}

func (f *fakeMatrix) Upload(_ context.Context, user id.UserID, data []byte, mimeType, _ string) (id.ContentURI, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "Upload", user: user, content: data}); err != nil {
		return id.ContentURI{}, err
	}
	f.nextID++
	return id.ContentURI{Homeserver: "example.org", FileID: fmt.Sprintf("media%d", f.nextID)}, nil
}

func (f *fakeMatrix) Download(_ context.Context, uri id.ContentURI) ([]byte, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.media, f.record(matrixCall{method: "Download", txnID: uri.String()})
}

func (f *fakeMatrix) CreateRoom(_ context.Context, user id.UserID, req *mautrix.ReqCreateRoom) (id.RoomID, error) {
	time.Sleep(f.slow["CreateRoom"])
	f.lock.Lock()
	err := f.record(matrixCall{method: "CreateRoom", user: user, content: req})
	f.nextID++
	roomID := id.RoomID(fmt.Sprintf("!room%d:example.org", f.nextID))
	if err == nil {
		f.setMember(roomID, user, event.MembershipJoin)
		for _, invitee := range req.Invite {
			f.setMember(roomID, invitee, event.MembershipInvite)
		}
	}
	f.lock.Unlock()
	if err != nil {
		return "", err
	}
	return roomID, nil
}

func (f *fakeMatrix) EnsureJoined(_ context.Context, user id.UserID, roomID id.RoomID) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "EnsureJoined", user: user, room: roomID}); err != nil {
		return err
	}
	f.setMember(roomID, user, event.MembershipJoin)
	return nil
}

func (f *fakeMatrix) Join(_ context.Context, user id.UserID, roomID id.RoomID) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "Join", user: user, room: roomID}); err != nil {
		return err
	}
	f.setMember(roomID, user, event.MembershipJoin)
	return nil
}

func (f *fakeMatrix) Invite(_ context.Context, user id.UserID, roomID id.RoomID, invitee id.UserID) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	if err := f.record(matrixCall{method: "Invite", user: user, room: roomID, other: invitee}); err != nil {
		return err
	}
	if f.members[roomID][invitee] != event.MembershipJoin {
		f.setMember(roomID, invitee, event.MembershipInvite)
	}
	return nil
}

func (f *fakeMatrix) Kick(_ context.Context, user id.UserID, roomID id.RoomID, target id.UserID, _ string) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "Kick", user: user, room: roomID, other: target})
}

func (f *fakeMatrix) Leave(_ context.Context, user id.UserID, roomID id.RoomID) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "Leave", user: user, room: roomID})
}

func (f *fakeMatrix) DisplayName(context.Context, id.RoomID, id.UserID) string { return "" }

func (f *fakeMatrix) Membership(_ context.Context, roomID id.RoomID, target id.UserID) event.Membership {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.members[roomID][target]
}

func (f *fakeMatrix) MarkRead(_ context.Context, user id.UserID, roomID id.RoomID, eventID id.EventID) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "MarkRead", user: user, room: roomID, target: eventID})
}

func (f *fakeMatrix) SetTyping(_ context.Context, user id.UserID, roomID id.RoomID, typing bool, _ time.Duration) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "SetTyping", user: user, room: roomID, content: typing})
}

func (f *fakeMatrix) MarkDirect(_ context.Context, user, with id.UserID, roomID id.RoomID) error {
	time.Sleep(f.slow["MarkDirect"])
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.record(matrixCall{method: "MarkDirect", user: user, room: roomID, other: with})
}
