package portal

import (
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// statusUpdate is the contact's status update msgID as whatsmeow reports it.
func statusUpdate(msgID, text string) *events.Message {
	evt := waText(types.StatusBroadcastJID, testContact, msgID, text)
	evt.Info.IsGroup = true
	return evt
}

// TestStatusRoom: with bridge.status_broadcast off a status update creates nothing; on, the first
// creates the status room (named, with the user invited), each update is sent by the contact's
// ghost and scheduled to be redacted when it vanishes from WhatsApp, and a message sent in the
// room is refused.
func TestStatusRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, statusUpdate("S0", "hidden")); err != nil {
		t.Fatal(err)
	}
	if calls := e.mx.callsOf("CreateRoom"); len(calls) != 0 {
		t.Fatalf("with the option off, %d rooms were created", len(calls))
	}

	e.m.cfg.Bridge.StatusBroadcast = true
	for _, msgID := range []string{"S1", "S2"} {
		if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, statusUpdate(msgID, "status "+msgID)); err != nil {
			t.Fatal(err)
		}
	}
	creates := e.mx.callsOf("CreateRoom")
	if len(creates) != 1 {
		t.Fatalf("%d rooms created, want 1", len(creates))
	}
	req := creates[0].content.(*mautrix.ReqCreateRoom)
	if req.Name != StatusRoomName || req.Topic != StatusRoomTopic || len(req.Invite) != 1 || req.Invite[0] != testUser {
		t.Errorf("status room created with name %q, topic %q, invites %v", req.Name, req.Topic, req.Invite)
	}
	sends := e.mx.callsOf("SendEvent")
	if got := summaries(sends); len(got) != 2 || got[0] != "m.room.message:status S1" || got[1] != "m.room.message:status S2" {
		t.Fatalf("sent %q", got)
	}
	if sends[0].user != e.ghost(testContact) {
		t.Errorf("status sent by %s, want the contact's ghost", sends[0].user)
	}
	key, err := e.m.KeyFor(e.ctx, e.login, types.StatusBroadcastJID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.db.Message.GetByWAID(e.ctx, key, "S1")
	if err != nil || len(rows) != 1 {
		t.Fatalf("message row of S1: %v, %v", rows, err)
	}
	if want := rows[0].Timestamp.Add(StatusLifetime); !rows[0].ExpiresAt.Equal(want) {
		t.Errorf("status expires at %s, want %s", rows[0].ExpiresAt, want)
	}

	room := e.portal(types.StatusBroadcastJID).MXID()
	reply := &event.Event{ID: id.EventID("$reply"), RoomID: room, Sender: testUser, Type: event.EventMessage,
		Timestamp: time.Now().UnixMilli(), Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: "nice"}}}
	isPortal, err := e.m.HandleMatrixEvent(e.ctx, reply)
	var perm PermanentError
	if !isPortal || !errors.As(err, &perm) || !errors.Is(err, ErrStatusRoomReadOnly) {
		t.Errorf("a message in the status room gave %v (portal %v), want ErrStatusRoomReadOnly", err, isPortal)
	}
	// The last line of defence: no path sends to status@broadcast.
	p := e.portal(types.StatusBroadcastJID)
	if err = p.sendToWhatsApp(e.ctx, e.login, reply, statusUpdate("X", "x").Message, nil); !errors.Is(err, ErrStatusRoomReadOnly) {
		t.Errorf("sending to WhatsApp from the status room gave %v", err)
	}
	e.cli.lock.Lock()
	defer e.cli.lock.Unlock()
	if len(e.cli.sends) != 0 {
		t.Errorf("%d messages went to WhatsApp", len(e.cli.sends))
	}
}
