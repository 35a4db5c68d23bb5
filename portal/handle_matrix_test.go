package portal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// dmRoom returns the env's DM portal room, created by a first message from the contact ("M1").
func dmRoom(t *testing.T, e *env) id.RoomID {
	t.Helper()
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "M1", "hello")); err != nil {
		t.Fatal(err)
	}
	return e.portal(testContact).MXID()
}

// TestMatrixMessageDerivedID: a Matrix message goes to WhatsApp with the ID derived from its event
// ID and the account (OutgoingMessageID, shaped like a WhatsApp Web ID); after a failed send the
// retry reuses that ID, a repeat of the event sends nothing, and no outbox row is written for it.
func TestMatrixMessageDerivedID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	e.cli.failNext(errors.New("server answered 500"))
	evt := mxText(roomID, "$hi", "hi there")
	isPortal, err := e.m.HandleMatrixEvent(e.ctx, evt)
	var perm PermanentError
	if !isPortal || err == nil || errors.Is(err, ErrNotConnected) || errors.As(err, &perm) {
		t.Fatalf("failed send gave isPortal=%t err=%v, want a retryable error", isPortal, err)
	}
	if _, err = e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
		t.Fatalf("retry failed: %v", err)
	}
	if _, err = e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
		t.Fatalf("repeat failed: %v", err)
	}
	want := OutgoingMessageID(e.login.OwnJID(), evt.ID)
	if len(want) != 22 || !strings.HasPrefix(want, whatsmeow.WebMessageIDPrefix) || strings.ToUpper(want) != want {
		t.Errorf("derived ID %q does not look like a WhatsApp Web message ID", want)
	}
	if other := OutgoingMessageID(types.NewJID("4915100000099", types.DefaultUserServer), evt.ID); other == want {
		t.Errorf("two accounts derive the same ID %s for one event", want)
	}
	sends := e.cli.sent()
	if len(sends) != 2 || sends[0].id != want || sends[1].id != want || sends[1].msg.GetConversation() != "hi there" {
		t.Fatalf("sends %+v, want two with ID %s", sends, want)
	}
	if sends[0].to != testContact {
		t.Errorf("sent to %s", sends[0].to)
	}
	msg, err := e.db.Message.GetByMXID(e.ctx, evt.ID)
	if err != nil || msg == nil || msg.WAID != want || !msg.IsFromMatrix {
		t.Fatalf("message map has %+v (%v)", msg, err)
	}
	if out, err := e.db.Outbox.Get(e.ctx, evt.ID); err != nil || out != nil {
		t.Errorf("outbox row %+v (%v) for a message sent with a derived ID", out, err)
	}
}

// TestMatrixMessageKnownUnbridged: a new event whose inbox row said the message map had no row of
// it (WithUnbridged) is sent without that look-up; a repeat of it, handled without that knowledge,
// still sends nothing, and the knowledge about one event does not skip the look-up of another.
func TestMatrixMessageKnownUnbridged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	evt := mxText(roomID, "$new", "hello")
	if _, err := e.m.HandleMatrixEvent(WithUnbridged(e.ctx, evt.ID), evt); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(WithUnbridged(e.ctx, "$other"), evt); err != nil {
		t.Fatal(err)
	}
	if sends := e.cli.sent(); len(sends) != 1 || sends[0].msg.GetConversation() != "hello" {
		t.Fatalf("sends %+v, want the message once", sends)
	}
}

// TestMatrixMessageReservedIDKept: an event for which an earlier version reserved a WhatsApp message
// ID in the outbox, and which is still pending, is sent with that ID after the upgrade (it may have
// gone out with it already), and its outbox row becomes sent.
func TestMatrixMessageReservedIDKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	evt := mxText(roomID, "$old", "sent before the upgrade?")
	const reserved = "3EB0AAAAAAAAAAAAAAAAAA"
	if _, _, err := e.db.Outbox.Reserve(e.ctx, &database.OutgoingMessage{EventID: evt.ID, Portal: e.portal(testContact).Key, WAID: reserved}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.LoadReservedIDs(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
		t.Fatal(err)
	}
	if sends := e.cli.sent(); len(sends) != 1 || sends[0].id != reserved {
		t.Fatalf("sends %+v, want one with the reserved ID %s", sends, reserved)
	}
	if out, err := e.db.Outbox.Get(e.ctx, evt.ID); err != nil || out == nil || out.State != database.OutboxSent {
		t.Fatalf("outbox row %+v (%v), want sent", out, err)
	}
}

// TestMatrixPendingWhileDisconnected: while the user's WhatsApp connection is down the event fails
// with ErrNotConnected (the inbox keeps it pending); once connected it goes out, with the same ID
// when a send had already been attempted.
func TestMatrixPendingWhileDisconnected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		disconnect func(e *env)
		attempts   int // sends attempted while disconnected
	}{
		{"no connection", func(e *env) { e.login.setConnected(nil) }, 0},
		{"logged out", func(e *env) { e.cli.loggedOut = true }, 0},
		{"connection lost during send", func(e *env) { e.cli.failNext(whatsmeow.ErrNotConnected) }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			roomID := dmRoom(t, e)
			tc.disconnect(e)
			evt := mxText(roomID, "$hi", "hi")
			if _, err := e.m.HandleMatrixEvent(e.ctx, evt); !errors.Is(err, ErrNotConnected) {
				t.Fatalf("got %v, want ErrNotConnected", err)
			}
			if n := len(e.cli.sent()); n != tc.attempts {
				t.Fatalf("%d sends while disconnected, want %d", n, tc.attempts)
			}
			e.cli.loggedOut = false
			e.login.setConnected(e.cli)
			if _, err := e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
				t.Fatalf("send after reconnect failed: %v", err)
			}
			sends := e.cli.sent()
			if len(sends) != tc.attempts+1 || sends[0].id != sends[len(sends)-1].id {
				t.Errorf("sends %+v, want %d all with one ID", sends, tc.attempts+1)
			}
		})
	}
}

// TestMatrixEvents: what each kind of Matrix event sends to WhatsApp, and which cannot be bridged
// at all (a PermanentError, so the inbox fails the event at once and tells the room).
func TestMatrixEvents(t *testing.T) {
	t.Parallel()
	reaction := func(target id.EventID, key string) *event.ReactionEventContent {
		return &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: target, Key: key}}
	}
	edit := func(target id.EventID) *event.MessageEventContent {
		c := &event.MessageEventContent{MsgType: event.MsgText, Body: "* new", NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "new"}}
		c.RelatesTo = &event.RelatesTo{Type: event.RelReplace, EventID: target}
		return c
	}
	tests := []struct {
		name      string
		evtType   event.Type
		content   func(first, own id.EventID) any
		permanent bool
		check     func(s waSend) bool
	}{
		{"reaction", event.EventReaction, func(first, _ id.EventID) any { return reaction(first, "👍") }, false,
			func(s waSend) bool { return s.msg.GetReactionMessage().GetText() == "👍" }},
		{"reaction to unknown event", event.EventReaction, func(_, _ id.EventID) any { return reaction("$nope", "👍") }, true, nil},
		{"edit", event.EventMessage, func(_, own id.EventID) any { return edit(own) }, false,
			func(s waSend) bool {
				pm := s.msg.GetProtocolMessage()
				return pm.GetEditedMessage().GetConversation() == "new" && pm.GetKey().GetID() == "M2"
			}},
		{"edit of the contact's message", event.EventMessage, func(first, _ id.EventID) any { return edit(first) }, true, nil},
		{"edit without new content", event.EventMessage, func(_, own id.EventID) any {
			c := edit(own)
			c.NewContent = nil
			return c
		}, true, nil},
		{"edit of unknown event", event.EventMessage, func(_, _ id.EventID) any { return edit("$nope") }, true, nil},
		{"redaction of own message", event.EventRedaction, func(_, own id.EventID) any { return &event.RedactionEventContent{Redacts: own} }, false,
			func(s waSend) bool {
				key := s.msg.GetProtocolMessage().GetKey()
				return key.GetID() == "M2" && key.GetFromMe()
			}},
		{"redaction of the contact's message in a DM", event.EventRedaction, func(first, _ id.EventID) any { return &event.RedactionEventContent{Redacts: first} }, true, nil},
		{"location", event.EventMessage, func(_, _ id.EventID) any {
			return &event.MessageEventContent{MsgType: event.MsgLocation, Body: "Cafe", GeoURI: "geo:52.5,13.4"}
		}, false, func(s waSend) bool {
			loc := s.msg.GetLocationMessage()
			return loc.GetName() == "Cafe" && loc.GetDegreesLatitude() == 52.5 && loc.GetDegreesLongitude() == 13.4
		}},
		{"location without coordinates", event.EventMessage, func(_, _ id.EventID) any {
			return &event.MessageEventContent{MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:north"}
		}, true, nil},
		{"unsupported message type", event.EventMessage, func(_, _ id.EventID) any {
			return &event.MessageEventContent{MsgType: event.MsgVerificationRequest, Body: "verify"}
		}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			roomID := dmRoom(t, e)
			mine := waText(testContact, testOwnJID, "M2", "mine")
			mine.Info.IsFromMe = true
			if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, mine); err != nil {
				t.Fatal(err)
			}
			sent := e.mx.callsOf("SendEvent")
			first, own := sent[0].target, sent[1].target
			_, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(roomID, "$evt", tc.evtType, tc.content(first, own)))
			var perm PermanentError
			if errors.As(err, &perm) != tc.permanent || (!tc.permanent && err != nil) {
				t.Fatalf("got %v, want permanent=%t", err, tc.permanent)
			}
			sends := e.cli.sent()
			if tc.permanent {
				if len(sends) != 0 {
					t.Errorf("unbridgeable event sent %+v", sends)
				}
				return
			}
			if len(sends) != 1 || !tc.check(sends[0]) {
				t.Errorf("sent %+v", sends)
			}
		})
	}
}

// TestMatrixEventRouting: events in rooms that are not portals are not handled; a sender without a
// WhatsApp login gets a permanent ErrNotLoggedIn, another bridge user in a DM portal a permanent
// ErrNotYourChat, and nothing is sent for either.
func TestMatrixEventRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	if isPortal, err := e.m.HandleMatrixEvent(e.ctx, mxText("!other:example.org", "$a", "hi")); isPortal || err != nil {
		t.Errorf("non-portal room gave isPortal=%t err=%v", isPortal, err)
	}
	evt := mxText(roomID, "$b", "hi")
	evt.Sender = "@stranger:example.org"
	isPortal, err := e.m.HandleMatrixEvent(e.ctx, evt)
	var perm PermanentError
	if !isPortal || !errors.As(err, &perm) || !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("stranger's event gave isPortal=%t err=%v", isPortal, err)
	}
	if n := len(e.cli.sent()); n != 0 {
		t.Errorf("%d sends", n)
	}

	// Another bridge user, logged in to their own WhatsApp account, writes in alice's DM room.
	other := &fakeLogin{mxid: "@bob:" + testDomain, jid: types.NewJID("15559990001", types.DefaultUserServer), client: &fakeWAClient{}}
	e.m.users.(*fakeUsers).logins = append(e.m.users.(*fakeUsers).logins, other)
	evt = mxText(roomID, "$c", "hi from bob")
	evt.Sender = other.mxid
	isPortal, err = e.m.HandleMatrixEvent(e.ctx, evt)
	if !isPortal || !errors.As(err, &perm) || !errors.Is(err, ErrNotYourChat) {
		t.Errorf("another user's event in a DM portal gave isPortal=%t err=%v", isPortal, err)
	}
	if n := len(e.cli.sent()) + len(other.client.sent()); n != 0 {
		t.Errorf("%d sends from another user's event", n)
	}
	// The owner's own message still goes out.
	if _, err = e.m.HandleMatrixEvent(e.ctx, mxText(roomID, "$d", "hi from alice")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.cli.sent()); n != 1 {
		t.Errorf("owner's message: %d sends, want 1", n)
	}
}

// TestMatrixRedactionOfContactsReaction: redacting a contact's reaction in Matrix cannot remove it on
// WhatsApp (only one's own reactions can be), so nothing is sent, the reaction stays mapped, and the
// user is told.
func TestMatrixRedactionOfContactsReaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waReaction(testContact, "R1", "M1", "👍")); err != nil {
		t.Fatal(err)
	}
	sent := e.mx.callsOf("SendEvent")
	reactionEvent := sent[len(sent)-1].target
	_, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(roomID, "$redact", event.EventRedaction, &event.RedactionEventContent{Redacts: reactionEvent}))
	var perm PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("redacting a contact's reaction gave %v, want a permanent error", err)
	}
	if sends := e.cli.sent(); len(sends) != 0 {
		t.Errorf("sent %+v to WhatsApp", sends)
	}
	if r, err := e.m.db.Reaction.GetByMXID(e.ctx, reactionEvent); err != nil || r == nil {
		t.Errorf("contact's reaction row is gone (%v, %v)", r, err)
	}
}

// TestReadReceiptBeforeTheMessageIsRecorded: a Matrix client may read a bridged message before
// the bridge has recorded it (the homeserver shows it while the bridge still waits for its answer
// to the send); the receipt then waits for the record and still reaches WhatsApp.
func TestReadReceiptBeforeTheMessageIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "M1", "first")); err != nil {
		t.Fatal(err)
	}
	room := e.portal(testContact).MXID()
	e.mx.lock.Lock()
	next := id.EventID(fmt.Sprintf("$event%d", e.mx.nextID+1)) // the event M2 will be sent as
	e.mx.lock.Unlock()
	done := make(chan error, 1)
	go func() { done <- e.m.HandleMatrixReceipt(e.ctx, room, next, testUser, time.Now()) }()
	time.Sleep(300 * time.Millisecond)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "M2", "second")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if reads := e.cli.markedRead(); len(reads) != 1 || !slices.Equal(reads[0], []types.MessageID{"M2"}) {
		t.Errorf("marked read on WhatsApp: %v, want [[M2]]", reads)
	}
}
