package portal

import (
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func testCall(group types.JID, ended bool, reason string) Call {
	return Call{ID: "CALL1", Caller: testContact, Group: group, Ended: ended, Reason: reason, Timestamp: time.UnixMilli(1700000000000)}
}

// A 1:1 call becomes "incoming" and then "missed" notices from the caller's ghost, once each even
// when WhatsApp delivers the stanzas again; a group call is announced in the group's room.
func TestCallNotices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cli.group = &types.GroupInfo{JID: testGroup, GroupName: types.GroupName{Name: "Test group"}}
	for _, call := range []Call{
		testCall(types.EmptyJID, false, ""), testCall(types.EmptyJID, false, ""),
		testCall(types.EmptyJID, true, "timeout"), testCall(types.EmptyJID, true, "timeout"),
	} {
		if err := e.m.HandleWhatsAppCall(e.ctx, e.login, call); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.HandleWhatsAppCall(e.ctx, e.login, Call{ID: "CALL2", Caller: testContact, Group: testGroup, Video: true}); err != nil {
		t.Fatal(err)
	}
	sends := e.mx.callsOf("SendEvent")
	var dm []string
	for _, s := range sends {
		if s.room == e.portal(testContact).row.MXID {
			dm = append(dm, summary(s))
		}
	}
	// The fake homeserver answers a repeated transaction with the first event, like a real one.
	want := []string{"m.room.message:Incoming call. Answer it with WhatsApp on your phone.", "m.room.message:Incoming call. Answer it with WhatsApp on your phone.",
		"m.room.message:Missed call.", "m.room.message:Missed call."}
	if !slices.Equal(dm, want) {
		t.Fatalf("DM got %q, want %q", dm, want)
	}
	if sends[0].txnID != sends[1].txnID || sends[2].txnID != sends[3].txnID || sends[0].txnID == sends[2].txnID {
		t.Fatalf("transaction IDs %q %q %q %q: a repeat must reuse, start and end must differ", sends[0].txnID, sends[1].txnID, sends[2].txnID, sends[3].txnID)
	}
	if sends[0].user != e.ghost(testContact) {
		t.Fatalf("call notice sent by %s, want the caller's ghost", sends[0].user)
	}
	last := sends[len(sends)-1]
	if last.room != e.portal(testGroup).row.MXID || summary(last) != "m.room.message:Started a group video call. Join it with WhatsApp on your phone." {
		t.Fatalf("group call notice %q in %s", summary(last), last.room)
	}
	if n := len(e.cli.sent()); n != 0 {
		t.Fatalf("%d WhatsApp messages sent without an auto-reply configured", n)
	}
}

// With notices off nothing reaches Matrix; with an auto-reply the 1:1 caller gets it on WhatsApp,
// once per call, and a group call gets none.
func TestCallNoticesOffAndAutoReply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	off := false
	e.m.cfg.Bridge.Calls.Notices = &off
	e.m.cfg.Bridge.Calls.AutoReply = "Please write instead"
	for _, call := range []Call{testCall(types.EmptyJID, false, ""), testCall(types.EmptyJID, true, "timeout"), testCall(testGroup, false, "")} {
		if err := e.m.HandleWhatsAppCall(e.ctx, e.login, call); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.HandleWhatsAppCall(e.ctx, e.login, testCall(types.EmptyJID, false, "")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.mx.callsOf("SendEvent")) + len(e.mx.callsOf("CreateRoom")); n != 0 {
		t.Fatalf("%d Matrix events or rooms with call notices off", n)
	}
	sent := e.cli.sent()
	if len(sent) != 2 || sent[0].to != testContact || sent[0].msg.GetConversation() != "Please write instead" || sent[0].id == "" || sent[1].id != sent[0].id {
		t.Fatalf("WhatsApp sends %+v, want the auto-reply to the caller, twice with the same ID", sent)
	}
}

// The caller is named by phone number when the call stanza carries it, else by LID.
func TestCallFromEventPrefersPhoneNumber(t *testing.T) {
	t.Parallel()
	lid := types.NewJID("161447491044053", types.HiddenUserServer)
	offer := &events.CallOffer{BasicCallMeta: types.BasicCallMeta{CallID: "C1", From: lid, CallCreator: lid, CallCreatorAlt: testContact}}
	if call, ok := CallFromEvent(offer); !ok || call.Caller != testContact || call.Ended {
		t.Fatalf("offer became %+v (%v), want the caller's phone number", call, ok)
	}
	end := &events.CallTerminate{BasicCallMeta: types.BasicCallMeta{CallID: "C1", CallCreator: lid}, Reason: "timeout"}
	if call, ok := CallFromEvent(end); !ok || call.Caller != lid || !call.Ended || call.Reason != "timeout" {
		t.Fatalf("terminate became %+v (%v)", call, ok)
	}
	if _, ok := CallFromEvent(&events.Message{}); ok {
		t.Fatal("a message became a call")
	}
}
