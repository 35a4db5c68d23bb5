package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// fakeHandler records which Handler method each event reached.
type fakeHandler struct {
	lock  sync.Mutex
	calls []string
	// fail makes every Handle method return an error.
	fail error
}

func (h *fakeHandler) record(call string) error {
	h.lock.Lock()
	defer h.lock.Unlock()
	h.calls = append(h.calls, call)
	return h.fail
}

func (h *fakeHandler) HandleMessage(context.Context, *events.Message) error {
	return h.record("HandleMessage")
}
func (h *fakeHandler) HandleGroupInfo(context.Context, *events.GroupInfo) error {
	return h.record("HandleGroupInfo")
}
func (h *fakeHandler) HandleJoinedGroup(context.Context, *events.JoinedGroup) error {
	return h.record("HandleJoinedGroup")
}
func (h *fakeHandler) HandleReceipt(context.Context, *events.Receipt) error {
	return h.record("HandleReceipt")
}
func (h *fakeHandler) HandleChatPresence(context.Context, *events.ChatPresence) error {
	return h.record("HandleChatPresence")
}
func (h *fakeHandler) HandlePicture(context.Context, *events.Picture) error {
	return h.record("HandlePicture")
}
func (h *fakeHandler) HandlePushName(context.Context, *events.PushName) error {
	return h.record("HandlePushName")
}
func (h *fakeHandler) Connected(context.Context) { _ = h.record("Connected") }
func (h *fakeHandler) LoggedOut(_ context.Context, reason string) {
	_ = h.record("LoggedOut: " + reason)
}
func (h *fakeHandler) Alert(_ context.Context, alert Alert) {
	_ = h.record(fmt.Sprintf("Alert %d", alert.Kind))
}

func (h *fakeHandler) took() []string {
	h.lock.Lock()
	defer h.lock.Unlock()
	out := h.calls
	h.calls = nil
	return out
}

// newTestLogin makes a login without a client: events for the nil client count as the current
// client's, so the switch can be driven without a network.
func newTestLogin(h Handler) *Login {
	return NewLogin(Options{Background: context.Background(), Log: zerolog.New(io.Discard), Handler: h})
}

var (
	alice    = types.NewJID("4915112345678", types.DefaultUserServer)
	aliceLID = types.NewJID("123456", types.HiddenUserServer)
	group    = types.NewJID("120363000000000001", types.GroupServer)
)

func TestEventSwitchRouting(t *testing.T) {
	tests := []struct {
		evt       any
		wantCalls []string
		wantState StateEvent
	}{
		{&events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: alice, Sender: alice}}}, []string{"HandleMessage"}, ""},
		{&events.GroupInfo{JID: group}, []string{"HandleGroupInfo"}, ""},
		{&events.JoinedGroup{GroupInfo: types.GroupInfo{JID: group}}, []string{"HandleJoinedGroup"}, ""},
		{&events.Receipt{}, []string{"HandleReceipt"}, ""},
		{&events.ChatPresence{}, []string{"HandleChatPresence"}, ""},
		{&events.Picture{JID: alice}, []string{"HandlePicture"}, ""},
		{&events.PushName{JID: alice, NewPushName: "Alice"}, []string{"HandlePushName"}, ""},
		{&events.MediaRetry{MessageID: "3EB0A1", ChatID: alice}, []string{"HandleMediaRetry"}, ""},
		{&events.Connected{}, []string{"Connected"}, StateConnected},
		{&events.LoggedOut{}, []string{"LoggedOut: the linked device was removed from your phone"}, StateLoggedOut},
		{&events.StreamReplaced{}, []string{fmt.Sprintf("Alert %d", AlertStreamReplaced)}, StateBadCredentials},
		{&events.TemporaryBan{}, []string{fmt.Sprintf("Alert %d", AlertTemporaryBan)}, StateBadCredentials},
		{&events.ClientOutdated{}, []string{fmt.Sprintf("Alert %d", AlertClientOutdated)}, StateBadCredentials},
		{&events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent}, []string{fmt.Sprintf("Alert %d", AlertConnectFailure)}, StateBadCredentials},
		{&events.KeepAliveTimeout{ErrorCount: 1}, nil, ""},
		{&events.PairSuccess{ID: alice, LID: aliceLID}, nil, ""},
		{&events.Contact{JID: alice}, nil, ""},
		{&events.BusinessName{JID: alice}, nil, ""},
		{&events.HistorySync{Data: &waHistorySync.HistorySync{SyncType: waHistorySync.HistorySync_RECENT.Enum()}}, []string{"HandleHistorySync"}, ""},
		{&events.HistorySync{Data: &waHistorySync.HistorySync{SyncType: waHistorySync.HistorySync_PUSH_NAME.Enum()}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T", tt.evt), func(t *testing.T) {
			h := &fakeHandler{}
			l := newTestLogin(h)
			if !l.handleEvent(nil, tt.evt) {
				t.Error("event not acknowledged")
			}
			if got := h.took(); fmt.Sprint(got) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("handler calls %v, want %v", got, tt.wantCalls)
			}
			want := tt.wantState
			if want == "" {
				want = StateUnconfigured
			}
			if got := l.State().Event; got != want {
				t.Errorf("state %s, want %s", got, want)
			}
		})
	}
}

func TestEventSwitchAcknowledgement(t *testing.T) {
	h := &fakeHandler{fail: errors.New("database down")}
	l := newTestLogin(h)
	mustRetry := map[string]any{
		"message":      &events.Message{},
		"group change": &events.GroupInfo{JID: group},
		"joined group": &events.JoinedGroup{},
		"receipt":      &events.Receipt{},
	}
	for name, evt := range mustRetry {
		if l.handleEvent(nil, evt) {
			t.Errorf("failed %s was acknowledged; WhatsApp would not deliver it again", name)
		}
	}
	bestEffort := map[string]any{
		"typing":    &events.ChatPresence{},
		"picture":   &events.Picture{},
		"push name": &events.PushName{},
	}
	for name, evt := range bestEffort {
		if !l.handleEvent(nil, evt) {
			t.Errorf("failed %s was not acknowledged", name)
		}
	}
}

func TestEventsOfAReplacedClientAreIgnored(t *testing.T) {
	h := &fakeHandler{fail: errors.New("must not be called")}
	l := newTestLogin(h)
	stale := &whatsmeow.Client{}
	for _, evt := range []any{&events.Message{}, &events.Connected{}, &events.LoggedOut{}} {
		if !l.handleEvent(stale, evt) {
			t.Errorf("%T of a replaced client was not acknowledged", evt)
		}
	}
	if calls := h.took(); len(calls) != 0 {
		t.Errorf("events of a replaced client reached the handler: %v", calls)
	}
}

func TestContactEventsUpdateTheCache(t *testing.T) {
	h := &fakeHandler{}
	l := newTestLogin(h)
	ctx := context.Background()
	l.handleEvent(nil, &events.PairSuccess{ID: types.NewADJID("4915100000000", 0, 3), LID: aliceLID})
	if l.JID().User != "4915100000000" || l.LID() != aliceLID {
		t.Errorf("after pairing: JID %s, LID %s", l.JID(), l.LID())
	}
	l.handleEvent(nil, &events.Contact{JID: alice, Action: &waSyncAction.ContactAction{FullName: proto.String("Alice Liddell"), FirstName: proto.String("Alice")}})
	l.handleEvent(nil, &events.BusinessName{JID: alice, NewBusinessName: "Alice's Shop"})
	l.handleEvent(nil, &events.PushName{JID: alice, NewPushName: "Ali"})
	got := l.Contact(ctx, aliceLID, alice)
	if got.FullName != "Alice Liddell" || got.FirstName != "Alice" || got.BusinessName != "Alice's Shop" || got.PushName != "Ali" || !got.Found {
		t.Errorf("contact %+v", got)
	}
	// A message's push name belongs to the phone JID WhatsApp sent along with a LID sender.
	bob, bobLID := types.NewJID("4915200000001", types.DefaultUserServer), types.NewJID("654321", types.HiddenUserServer)
	msg := &events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: group, Sender: bobLID, SenderAlt: bob}, PushName: "Bob"}}
	l.handleEvent(nil, msg)
	if got := l.Contact(ctx, bob); got.PushName != "Bob" {
		t.Errorf("push name from message: %+v", got)
	}
	// A business name that came with a LID sender's message belongs to its phone JID too.
	l.handleEvent(nil, &events.BusinessName{JID: bobLID, NewBusinessName: "Bob's Bikes", Message: &msg.Info})
	if a, b := l.Contact(ctx, bob), l.Contact(ctx, bobLID); a.BusinessName != "Bob's Bikes" || b.BusinessName != "Bob's Bikes" {
		t.Errorf("business name by phone %q, by LID %q", a.BusinessName, b.BusinessName)
	}
	own := &events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: group, Sender: alice, IsFromMe: true}, PushName: "Me"}}
	l.handleEvent(nil, own)
	if got := l.Contact(ctx, alice); got.PushName != "Ali" {
		t.Errorf("own message changed a contact's push name: %+v", got)
	}
}

// panickingHandler panics on every message.
type panickingHandler struct{ fakeHandler }

func (h *panickingHandler) HandleMessage(context.Context, *events.Message) error {
	panic("handler bug")
}

// TestHandlerPanicFailsTheEvent: a handler that panics makes the event fail (whatsmeow then sends
// no receipt and the message is delivered again) instead of counting as handled.
func TestHandlerPanicFailsTheEvent(t *testing.T) {
	l := newTestLogin(&panickingHandler{})
	if l.handleEvent(nil, &events.Message{Info: types.MessageInfo{ID: "3EB0PANIC"}}) {
		t.Error("an event whose handler panicked counts as handled")
	}
	if !newTestLogin(&fakeHandler{}).handleEvent(nil, &events.Message{Info: types.MessageInfo{ID: "3EB0FINE"}}) {
		t.Error("an event whose handler succeeded counts as failed")
	}
}
