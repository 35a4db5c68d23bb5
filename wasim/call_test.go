package wasim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func waitCallEvent[T any](t *testing.T, ctx context.Context, who string, log *EventLog, match func(T) bool) T {
	t.Helper()
	evt, err := log.WaitEvent(ctx, func(evt any) bool {
		typed, ok := evt.(T)
		return ok && match(typed)
	})
	if err != nil {
		var zero T
		t.Fatalf("%s got no %T: %v", who, zero, err)
	}
	return evt.(T)
}

// A 1:1 call rings on the companion and the phone as events.CallOffer naming the caller, and its
// end by timeout (a missed call) arrives as events.CallTerminate; the stanzas are acknowledged.
func TestCallOfferAndMissedCall(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := pairByQR(t, ctx, srv, acct)

	callID, err := rosa.Call(acct.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	for who, log := range map[string]*EventLog{"companion": quinn.EventLog, "phone": acct.Phone().EventLog} {
		offer := waitCallEvent(t, ctx, who, log, func(o *events.CallOffer) bool { return o.CallID == callID })
		if offer.CallCreator.User != rosa.LID().User || offer.CallCreatorAlt.User != rosa.JID().User ||
			offer.From.User != rosa.LID().User || offer.GroupJID != (types.JID{}) || offer.Data.GetChildByTag("audio").Tag != "audio" {
			t.Fatalf("%s got offer %+v", who, offer.BasicCallMeta)
		}
	}
	if err = rosa.EndCall(acct.JID(), callID, CallTimeout); err != nil {
		t.Fatal(err)
	}
	end := waitCallEvent(t, ctx, "companion", quinn.EventLog, func(e *events.CallTerminate) bool { return e.CallID == callID })
	if end.Reason != CallTimeout || end.CallCreator.User != rosa.LID().User {
		t.Fatalf("terminate %+v reason %q", end.BasicCallMeta, end.Reason)
	}
	waitQueueEmpty(t, ctx, acct, quinn.cli.Store.ID.Device)
	if n := quinn.Count(isType[*events.CallOffer]); n != 1 {
		t.Fatalf("companion got %d offers", n)
	}
}

// A call the account's phone answers or declines reaches its companions as whatsmeow's
// events.CallAccept / events.CallReject from the phone, naming the caller's call.
func TestCallAnsweredOrDeclinedOnThePhone(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Uli")
	rosa := newContact(t, ctx, srv, "Rosa")
	uli := pairByQR(t, ctx, srv, acct)

	answered, err := rosa.Call(acct.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err = acct.AnswerCall(rosa.JID(), answered); err != nil {
		t.Fatal(err)
	}
	accept := waitCallEvent(t, ctx, "companion", uli.EventLog, func(e *events.CallAccept) bool { return e.CallID == answered })
	if accept.From.User != acct.JID().User || accept.From.Device != 0 || accept.CallCreator.User != rosa.LID().User {
		t.Fatalf("accept %+v, want from the phone for Rosa's call", accept.BasicCallMeta)
	}
	declined, err := rosa.Call(acct.JID(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err = acct.DeclineCall(rosa.JID(), declined); err != nil {
		t.Fatal(err)
	}
	reject := waitCallEvent(t, ctx, "companion", uli.EventLog, func(e *events.CallReject) bool { return e.CallID == declined })
	if reject.From.User != acct.JID().User || reject.CallCreator.User != rosa.LID().User {
		t.Fatalf("reject %+v, want from the phone for Rosa's call", reject.BasicCallMeta)
	}
	if err = acct.AnswerCall(types.NewJID("4900000000000", types.DefaultUserServer), answered); !errors.Is(err, ErrNoSuchAccount) {
		t.Fatalf("answering a call of an unknown caller: %v", err)
	}
}

// A group call reaches the other members as events.CallOfferNotice of type group, not the caller.
func TestGroupCallNotice(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := pairByQR(t, ctx, srv, acct)
	group, err := srv.CreateGroup(ctx, rosa.Account(), "Calls", acct)
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "companion", quinn.EventLog, group)

	callID, err := rosa.CallGroup(group, true)
	if err != nil {
		t.Fatal(err)
	}
	notice := waitCallEvent(t, ctx, "companion", quinn.EventLog, func(n *events.CallOfferNotice) bool { return n.CallID == callID })
	if notice.Type != "group" || notice.Media != "video" || notice.GroupJID != group || notice.CallCreator.User != rosa.LID().User {
		t.Fatalf("notice %+v media %q type %q", notice.BasicCallMeta, notice.Media, notice.Type)
	}
	if err = rosa.EndGroupCall(group, callID, CallHangUp); err != nil {
		t.Fatal(err)
	}
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(e *events.CallTerminate) bool { return e.CallID == callID && e.GroupJID == group })
	if n := rosa.Count(isType[*events.CallOfferNotice]); n != 0 {
		t.Fatalf("the caller got %d notices of its own call", n)
	}
	if _, err = rosa.CallGroup(types.NewJID("123", types.GroupServer), false); err == nil {
		t.Fatal("a call in an unknown group succeeded")
	}
}

// The control API rings, ends calls and arms undecryptable messages like the Go API.
func TestControlAPICallsAndUndecryptable(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	acct := newAccount(t, ctx, srv, "Quinn")
	rosa := newContact(t, ctx, srv, "Rosa")
	quinn := pairByQR(t, ctx, srv, acct)
	from, to := rosa.JID().User, acct.JID().User

	var call map[string]string
	api.expect(http.StatusCreated, "", "POST", "/_wasim/calls", mustJSON(map[string]any{"from": from, "to": to, "video": true}), &call)
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(o *events.CallOffer) bool {
		return o.CallID == call["call_id"] && o.Data.GetChildByTag("video").Tag == "video"
	})
	api.expect(http.StatusOK, "", "POST", "/_wasim/calls/end", mustJSON(map[string]string{"from": from, "to": to, "call_id": call["call_id"], "reason": "timeout"}), nil)
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(e *events.CallTerminate) bool {
		return e.CallID == call["call_id"] && e.Reason == "timeout"
	})
	api.expect(http.StatusBadRequest, `missing field "call_id"`, "POST", "/_wasim/calls/end", mustJSON(map[string]string{"from": from, "to": to}), nil)
	api.expect(http.StatusOK, "", "POST", "/_wasim/calls/answer", mustJSON(map[string]string{"from": from, "to": to, "call_id": call["call_id"]}), nil)
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(e *events.CallAccept) bool { return e.CallID == call["call_id"] })
	api.expect(http.StatusOK, "", "POST", "/_wasim/calls/decline", mustJSON(map[string]string{"from": from, "to": to, "call_id": call["call_id"]}), nil)
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(e *events.CallReject) bool { return e.CallID == call["call_id"] })
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/calls/answer", mustJSON(map[string]string{"from": from, "to": "4930999999", "call_id": "X"}), nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/calls", mustJSON(map[string]string{"from": "4930999999", "to": to}), nil)

	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/undecryptable", mustJSON(map[string]string{"phone": to, "from": from, "kind": "corrupted"}), nil)
	id, err := rosa.SendText(ctx, acct.JID(), "garbled")
	if err != nil {
		t.Fatal(err)
	}
	waitCallEvent(t, ctx, "companion", quinn.EventLog, func(u *events.UndecryptableMessage) bool { return u.Info.ID == id && !u.IsUnavailable })
	if _, err = quinn.WaitMessage(ctx, textIs("garbled")); err != nil {
		t.Fatalf("the sender's resend never arrived: %v", err)
	}
	api.expect(http.StatusBadRequest, "unknown kind", "POST", "/_wasim/faults/undecryptable", mustJSON(map[string]string{"phone": to, "from": from, "kind": "lost"}), nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/faults/undecryptable", mustJSON(map[string]string{"phone": to, "from": "4930999999", "kind": "unavailable"}), nil)

	api.expect(http.StatusOK, "", "POST", "/_wasim/phones/online", mustJSON(map[string]any{"phone": from, "online": false}), nil)
	if rosa.Client().IsConnected() {
		t.Fatal("the contact is still connected after going offline")
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/phones/online", mustJSON(map[string]any{"phone": from, "online": true}), nil)
	if _, err = rosa.SendText(ctx, acct.JID(), "back"); err != nil {
		t.Fatalf("the contact cannot send after coming back: %v", err)
	}
	api.expect(http.StatusBadRequest, `missing field "online"`, "POST", "/_wasim/phones/online", mustJSON(map[string]any{"phone": from}), nil)
}
