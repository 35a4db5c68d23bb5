package portal

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// summary describes a SendEvent call as "type:body" (the key for reactions).
func summary(c matrixCall) string {
	switch content := c.content.(type) {
	case *event.MessageEventContent:
		return c.evtType.Type + ":" + content.Body
	case *event.ReactionEventContent:
		return c.evtType.Type + ":" + content.RelatesTo.Key
	}
	return c.evtType.Type
}

func summaries(calls []matrixCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, summary(c))
	}
	return out
}

// TestWhatsAppToMatrix: each case hands WhatsApp messages from the contact to the DM portal, one
// after the other, and checks what reached Matrix. Every message must be handled without error.
func TestWhatsAppToMatrix(t *testing.T) {
	t.Parallel()
	msg := func(id, text string) *events.Message { return waText(testContact, testContact, id, text) }
	edited := &waE2E.Message{Conversation: proto.String("edited")}
	tests := []struct {
		name    string
		events  []*events.Message
		sends   []string
		redacts []int // indexes into sends of the events redacted, in order
	}{
		{"message", []*events.Message{msg("M1", "hello")}, []string{"m.room.message:hello"}, nil},
		{"duplicate dropped", []*events.Message{msg("M1", "hello"), msg("M1", "hello")}, []string{"m.room.message:hello"}, nil},
		{"edit of unknown message", []*events.Message{waProtocol(testContact, "E1", "NOPE", edited)}, nil, nil},
		{"revoke of unknown message", []*events.Message{waProtocol(testContact, "R1", "NOPE", nil)}, nil, nil},
		{"reaction to unknown message", []*events.Message{waReaction(testContact, "X1", "NOPE", "👍")}, nil, nil},
		{"edit", []*events.Message{msg("M1", "hello"), waProtocol(testContact, "E1", "M1", edited)},
			[]string{"m.room.message:hello", "m.room.message:* edited"}, nil},
		{"revoke", []*events.Message{msg("M1", "hello"), waProtocol(testContact, "R1", "M1", nil)},
			[]string{"m.room.message:hello"}, []int{0}},
		{"reaction", []*events.Message{msg("M1", "hello"), waReaction(testContact, "X1", "M1", "\u2764")},
			[]string{"m.room.message:hello", "m.reaction:\u2764\ufe0f"}, nil},
		{"reaction replaced", []*events.Message{msg("M1", "hello"), waReaction(testContact, "X1", "M1", "👍"), waReaction(testContact, "X2", "M1", "😂")},
			[]string{"m.room.message:hello", "m.reaction:👍\ufe0f", "m.reaction:😂"}, []int{1}},
		{"reaction removed", []*events.Message{msg("M1", "hello"), waReaction(testContact, "X1", "M1", "👍"), waReaction(testContact, "X2", "M1", "")},
			[]string{"m.room.message:hello", "m.reaction:👍\ufe0f"}, []int{1}},
		{"same reaction again", []*events.Message{msg("M1", "hello"), waReaction(testContact, "X1", "M1", "👍"), waReaction(testContact, "X2", "M1", "👍")},
			[]string{"m.room.message:hello", "m.reaction:👍\ufe0f"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for _, evt := range tc.events {
				if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
					t.Fatalf("message %s failed: %v", evt.Info.ID, err)
				}
			}
			sends := e.mx.callsOf("SendEvent")
			if got := summaries(sends); !slices.Equal(got, tc.sends) {
				t.Errorf("sent %q, want %q", got, tc.sends)
			}
			redacts := e.mx.callsOf("Redact")
			if len(redacts) != len(tc.redacts) {
				t.Fatalf("%d redactions, want %d", len(redacts), len(tc.redacts))
			}
			for i, idx := range tc.redacts {
				if idx >= len(sends) || redacts[i].target != sends[idx].target {
					t.Errorf("redaction %d redacts %s, want the event of send %d", i, redacts[i].target, idx)
				}
			}
		})
	}
}

// TestWhatsAppMessageCreatesDM: the first message of a contact creates the DM room as the contact's
// ghost, with the user invited, and is sent as the ghost with WhatsApp's timestamp and a
// transaction ID derived from the message.
func TestWhatsAppMessageCreatesDM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evt := waText(testContact, testContact, "M1", "hello")
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
		t.Fatal(err)
	}
	ghost := e.ghost(testContact)
	creates := e.mx.callsOf("CreateRoom")
	if len(creates) != 1 || creates[0].user != ghost {
		t.Fatalf("rooms created: %+v", creates)
	}
	if req := creates[0].content.(*mautrix.ReqCreateRoom); !req.IsDirect || !slices.Contains(req.Invite, testUser) {
		t.Errorf("DM room created as %+v", req)
	}
	roomID := e.portal(testContact).MXID()
	if roomID == "" {
		t.Fatal("portal has no room")
	}
	sends := e.mx.callsOf("SendEvent")
	if len(sends) != 1 {
		t.Fatalf("%d sends", len(sends))
	}
	s := sends[0]
	if s.user != ghost || s.room != roomID || s.ts != evt.Info.Timestamp.UnixMilli() || s.txnID != "mw.15550001111.15559990000.M1.0" {
		t.Errorf("sent as %s to %s at %d with txn %q", s.user, s.room, s.ts, s.txnID)
	}
	if direct := e.mx.callsOf("MarkDirect"); len(direct) != 1 || direct[0].user != ghost || direct[0].other != testUser {
		t.Errorf("m.direct calls: %+v", direct)
	}
}

// bridgeRetries reports whether the bridge retries an error from a portal (bridge/retry.go): the
// homeserver or the network is down, overloaded or rate limiting.
func bridgeRetries(err error) bool {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.Response == nil || httpErr.Response.StatusCode >= http.StatusInternalServerError ||
			httpErr.Response.StatusCode == http.StatusTooManyRequests
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// TestWhatsAppMatrixErrors: a failing Matrix call fails the message, keeping the error's class so
// the bridge retries a transient one at once and leaves a permanent one unacknowledged (WhatsApp
// delivers it again). Nothing is recorded, so the message goes through on the next delivery, once.
func TestWhatsAppMatrixErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		method    string
		err       error
		transient bool
		wantText  string
	}{
		{"transient send", "SendEvent", transientErr(), true, "failed to send message to Matrix"},
		{"permanent send", "SendEvent", permanentErr(), false, "failed to send message to Matrix"},
		{"transient room creation", "CreateRoom", transientErr(), true, "failed to create DM room"},
		{"permanent room creation", "CreateRoom", permanentErr(), false, "failed to create DM room"},
		{"transient ghost join", "EnsureJoined", transientErr(), true, "failed to join sender ghost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.mx.failNext(tc.method, tc.err)
			evt := waText(testContact, testContact, "M1", "hello")
			err := e.m.HandleWhatsAppMessage(e.ctx, e.login, evt)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got %v, want %q", err, tc.wantText)
			}
			if bridgeRetries(err) != tc.transient {
				t.Errorf("bridge retries %v: %t, want %t", err, !tc.transient, tc.transient)
			}
			if exists, _ := e.db.Message.Exists(e.ctx, e.portal(testContact).Key, "M1"); exists {
				t.Fatal("failed message was recorded")
			}
			if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
				t.Fatalf("redelivery failed: %v", err)
			}
			if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
				t.Fatalf("duplicate failed: %v", err)
			}
			var delivered []string
			for _, c := range e.mx.callsOf("SendEvent") {
				delivered = append(delivered, c.txnID)
			}
			if want := "mw.15550001111.15559990000.M1.0"; len(delivered) == 0 || delivered[len(delivered)-1] != want || len(e.mx.callsOf("CreateRoom")) > 2 {
				t.Errorf("sends %q, want the last with txn %s", delivered, want)
			}
			if len(e.mx.callsOf("SendEvent")) > 2 {
				t.Errorf("message sent %d times", len(e.mx.callsOf("SendEvent")))
			}
		})
	}
}
