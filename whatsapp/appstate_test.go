package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// fakeAppStateHandler is a fakeHandler that also follows app state.
type fakeAppStateHandler struct {
	fakeHandler
	changes []ChatSettingsChange
}

func (h *fakeAppStateHandler) HandleContactName(_ context.Context, contact types.JID, full, first string, fullSync bool) error {
	return h.record(fmt.Sprintf("HandleContactName %s %q %q %v", contact.User, full, first, fullSync))
}
func (h *fakeAppStateHandler) HandleOwnPushName(_ context.Context, name string) error {
	return h.record("HandleOwnPushName " + name)
}
func (h *fakeAppStateHandler) HandleChatSettings(_ context.Context, change ChatSettingsChange) error {
	h.lock.Lock()
	h.changes = append(h.changes, change)
	h.lock.Unlock()
	return h.record("HandleChatSettings")
}
func (h *fakeAppStateHandler) HandleAppStateSynced(_ context.Context, collection string) {
	_ = h.record("HandleAppStateSynced " + collection)
}

func TestAppStateEventsReachTheHandler(t *testing.T) {
	h := &fakeAppStateHandler{}
	l := newTestLogin(h)
	ctx := context.Background()
	l.handleEvent(nil, &events.Contact{JID: alice, FromFullSync: true, Action: &waSyncAction.ContactAction{FullName: proto.String("Alice Liddell"), FirstName: proto.String("Alice")}})
	l.handleEvent(nil, &events.PushNameSetting{Action: &waSyncAction.PushNameSetting{Name: proto.String("Me Myself")}})
	l.handleEvent(nil, &events.AppStateSyncComplete{Name: "critical_block"})
	want := []string{`HandleContactName 4915112345678 "Alice Liddell" "Alice" true`, "HandleOwnPushName Me Myself", "HandleAppStateSynced critical_block"}
	if got := h.took(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handler calls %v, want %v", got, want)
	}
	if got := l.Contact(ctx, alice); got.FullName != "Alice Liddell" {
		t.Errorf("contact cache after the contact event: %+v", got)
	}
	if got := l.OwnPushName(); got != "Me Myself" {
		t.Errorf("OwnPushName = %q", got)
	}

	end := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for _, evt := range []any{
		&events.Mute{JID: group, Action: &waSyncAction.MuteAction{Muted: proto.Bool(true), MuteEndTimestamp: proto.Int64(-1)}},
		&events.Mute{JID: group, Action: &waSyncAction.MuteAction{Muted: proto.Bool(true), MuteEndTimestamp: proto.Int64(end.UnixMilli())}},
		&events.Mute{JID: group, Action: &waSyncAction.MuteAction{Muted: proto.Bool(false)}},
		&events.Pin{JID: alice, Action: &waSyncAction.PinAction{Pinned: proto.Bool(true)}},
		&events.Archive{JID: alice, Action: &waSyncAction.ArchiveChatAction{Archived: proto.Bool(true)}},
		&events.MarkChatAsRead{JID: alice, Action: &waSyncAction.MarkChatAsReadAction{Read: proto.Bool(false)}},
	} {
		if !l.handleEvent(nil, evt) {
			t.Errorf("%T not acknowledged", evt)
		}
	}
	c := h.changes
	if len(c) != 6 {
		t.Fatalf("got %d chat settings changes, want 6", len(c))
	}
	if !IsMutedForever(*c[0].MutedUntil) || !c[1].MutedUntil.Equal(end) || !c[2].MutedUntil.IsZero() || c[0].Chat != group {
		t.Errorf("mute changes: %v, %v, %v", *c[0].MutedUntil, *c[1].MutedUntil, *c[2].MutedUntil)
	}
	if c[3].Pinned == nil || !*c[3].Pinned || c[3].MutedUntil != nil || c[4].Archived == nil || !*c[4].Archived || c[5].Unread == nil || !*c[5].Unread {
		t.Errorf("pin/archive/unread changes: %+v %+v %+v", c[3], c[4], c[5])
	}
	if !IsMutedForever(store.MutedForever) || IsMutedForever(end) {
		t.Error("IsMutedForever does not tell a mute without end from a timed one")
	}
}

func TestAppStateEventsWithoutAppStateHandler(t *testing.T) {
	h := &fakeHandler{fail: errors.New("must not be called")}
	l := newTestLogin(h)
	for _, evt := range []any{&events.Contact{JID: alice}, &events.PushNameSetting{}, &events.Mute{}, &events.Pin{}, &events.AppStateSyncComplete{}} {
		if !l.handleEvent(nil, evt) {
			t.Errorf("%T not acknowledged", evt)
		}
	}
	if calls := h.took(); len(calls) != 0 {
		t.Errorf("calls %v", calls)
	}
}

func TestPeerProtocolMessagesCreateNoChat(t *testing.T) {
	own := types.MessageInfo{MessageSource: types.MessageSource{Chat: aliceLID, Sender: aliceLID, IsFromMe: true}}
	peer := own
	peer.Category = "peer"
	protocol := func(typ waE2E.ProtocolMessage_Type) *waE2E.Message {
		return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: typ.Enum()}}
	}
	tests := []struct {
		name   string
		info   types.MessageInfo
		msg    *waE2E.Message
		ignore bool
	}{
		{"key share as peer message", peer, protocol(waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE), true},
		{"history sync notification", own, protocol(waE2E.ProtocolMessage_HISTORY_SYNC_NOTIFICATION), true},
		{"LID mapping sync", own, protocol(waE2E.ProtocolMessage_LID_MIGRATION_MAPPING_SYNC), true},
		{"any peer message", peer, &waE2E.Message{Conversation: proto.String("x")}, true},
		{"own edit", own, protocol(waE2E.ProtocolMessage_MESSAGE_EDIT), false},
		{"own revoke", own, protocol(waE2E.ProtocolMessage_REVOKE), false},
		{"own text", own, &waE2E.Message{Conversation: proto.String("hi")}, false},
		{"contact's key share", types.MessageInfo{MessageSource: types.MessageSource{Chat: alice, Sender: alice}}, protocol(waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evt := &events.Message{Info: tt.info, Message: tt.msg}
			if got := IsPeerProtocolMessage(evt); got != tt.ignore {
				t.Fatalf("IsPeerProtocolMessage = %v, want %v", got, tt.ignore)
			}
			h := &fakeHandler{}
			if !newTestLogin(h).handleEvent(nil, evt) {
				t.Error("not acknowledged")
			}
			if reached := len(h.took()) == 1; reached == tt.ignore {
				t.Errorf("message reached the handler: %v, want %v", reached, !tt.ignore)
			}
		})
	}
}
