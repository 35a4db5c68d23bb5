package portal

import (
	"errors"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// waPollMessage is a poll from sender in the DM with the contact, as whatsmeow builds it.
func waPollMessage(sender types.JID, msgID, question string, selectable int, options ...string) *events.Message {
	var real whatsmeow.Client
	return waMessage(testContact, sender, msgID, real.BuildPollCreation(question, options, selectable))
}

// waVote is sender's vote on poll (in the DM with the contact), "encrypted" as the fake client does.
func waVote(sender types.JID, msgID, poll string, options ...string) *events.Message {
	payload, _ := proto.Marshal(&waE2E.PollVoteMessage{SelectedOptions: whatsmeow.HashPollOptions(options)})
	return waMessage(testContact, sender, msgID, &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{
		PollCreationMessageKey: &waCommon.MessageKey{RemoteJID: proto.String(testContact.String()), ID: proto.String(poll)},
		Vote:                   &waE2E.PollEncValue{EncPayload: payload},
	}})
}

// lastSent returns the last SendEvent call, failing when there is none.
func lastSent(t *testing.T, e *env) matrixCall {
	t.Helper()
	calls := e.mx.callsOf("SendEvent")
	if len(calls) == 0 {
		t.Fatal("nothing was sent to Matrix")
	}
	return calls[len(calls)-1]
}

// TestWhatsAppPoll: a WhatsApp poll becomes a Matrix poll of the sender's ghost, votes on it become
// that voter's poll responses (a changed vote a new response, a vote taken back an empty one), and
// votes that cannot be shown are dropped without an error.
func TestWhatsAppPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waPollMessage(testContact, "POLL1", "Lunch?", 0, "Pizza", "Sushi", "Soup")); err != nil {
		t.Fatal(err)
	}
	start := lastSent(t, e)
	if start.evtType != event.EventUnstablePollStart || start.user != e.ghost(testContact) || start.room != roomID {
		t.Fatalf("poll sent as %s by %s", start.evtType.Type, start.user)
	}
	row, err := e.db.Message.GetByMXID(e.ctx, start.target)
	if err != nil || row == nil || len(row.PollAnswers) != 3 || row.PollAnswers[1] != msgconv.PollAnswerID("Sushi") {
		t.Fatalf("poll row %+v (%v)", row, err)
	}

	votes := []struct {
		name    string
		options []string
	}{{"VOTE1", []string{"Sushi"}}, {"VOTE2", []string{"Pizza", "Soup"}}, {"VOTE3", nil}}
	for _, v := range votes {
		if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, waVote(testContact, v.name, "POLL1", v.options...)); err != nil {
			t.Fatal(err)
		}
		call := lastSent(t, e)
		resp, ok := call.content.(*event.PollResponseEventContent)
		if call.evtType != event.EventUnstablePollResponse || !ok || call.user != e.ghost(testContact) {
			t.Fatalf("vote %s sent as %s %T by %s", v.name, call.evtType.Type, call.content, call.user)
		}
		want := []string{}
		for _, opt := range v.options {
			want = append(want, msgconv.PollAnswerID(opt))
		}
		if resp.RelatesTo.EventID != start.target || !slices.Equal(resp.Response.Answers, want) {
			t.Errorf("vote %s = %+v, want %v on %s", v.name, resp, want, start.target)
		}
	}

	sent := len(e.mx.callsOf("SendEvent"))
	if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, waVote(testContact, "VOTE4", "UNKNOWN", "Sushi")); err != nil {
		t.Errorf("vote on an unknown poll: %v", err)
	}
	e.cli.noPollSecret = true
	if err = e.m.HandleWhatsAppMessage(e.ctx, e.login, waVote(testContact, "VOTE5", "POLL1", "Sushi")); err != nil {
		t.Errorf("undecryptable vote: %v", err)
	}
	if got := len(e.mx.callsOf("SendEvent")); got != sent {
		t.Errorf("%d events sent for votes that cannot be shown", got-sent)
	}
}

func mxPollStart(roomID id.RoomID, eventID id.EventID, question string, maxSelections int, answers ...string) *event.Event {
	content := &event.PollStartEventContent{PollStart: event.PollStart{
		Kind: "org.matrix.msc3381.poll.disclosed", MaxSelections: maxSelections, Question: event.MSC1767Message{Text: question},
	}}
	for i, text := range answers {
		content.PollStart.Answers = append(content.PollStart.Answers, event.PollOption{
			ID: "answer-" + string(rune('a'+i)), MSC1767Message: event.MSC1767Message{Text: text},
		})
	}
	return mxEvent(roomID, eventID, event.EventUnstablePollStart, content)
}

func mxPollResponse(roomID id.RoomID, eventID, poll id.EventID, answers ...string) *event.Event {
	return mxEvent(roomID, eventID, event.EventUnstablePollResponse, &event.PollResponseEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelReference, EventID: poll},
		Response:  event.PollResponse{Answers: answers},
	})
}

// votedOptions reads the options of a vote the fake client built.
func votedOptions(t *testing.T, msg *waE2E.Message) (string, [][]byte) {
	t.Helper()
	upd := msg.GetPollUpdateMessage()
	if upd == nil {
		t.Fatalf("sent %v, want a poll vote", msg)
	}
	var vote waE2E.PollVoteMessage
	if err := proto.Unmarshal(upd.GetVote().GetEncPayload(), &vote); err != nil {
		t.Fatal(err)
	}
	return upd.GetPollCreationMessageKey().GetID(), vote.GetSelectedOptions()
}

// TestMatrixPoll: a Matrix poll goes to WhatsApp as a poll (multiple choice as "any number"),
// Matrix votes on it and on WhatsApp polls go out as WhatsApp votes naming the chosen options,
// WhatsApp votes on the Matrix poll come back with the Matrix answer IDs, and what WhatsApp cannot
// do is refused with a reason.
func TestMatrixPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxPollStart(roomID, "$poll", "Where?", 2, "Park", "Beach", "Museum")); err != nil {
		t.Fatal(err)
	}
	sends := e.cli.sent()
	poll := sends[len(sends)-1]
	created := poll.msg.GetPollCreationMessage()
	if created.GetName() != "Where?" || !slices.Equal(msgconv.PollOptionNames(created), []string{"Park", "Beach", "Museum"}) ||
		created.GetSelectableOptionsCount() != 0 || len(poll.msg.GetMessageContextInfo().GetMessageSecret()) != 32 {
		t.Fatalf("sent poll %v", poll.msg)
	}

	// The user's vote on their own poll.
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxPollResponse(roomID, "$vote1", "$poll", "answer-c", "answer-a")); err != nil {
		t.Fatal(err)
	}
	sends = e.cli.sent()
	target, selected := votedOptions(t, sends[len(sends)-1].msg)
	want := whatsmeow.HashPollOptions([]string{"Museum", "Park"})
	if target != poll.id || len(selected) != 2 || string(selected[0]) != string(want[0]) || string(selected[1]) != string(want[1]) {
		t.Errorf("vote on %s chose %x, want %x on %s", target, selected, want, poll.id)
	}
	if !sends[len(sends)-1].msg.GetPollUpdateMessage().GetPollCreationMessageKey().GetFromMe() {
		t.Error("vote on the user's own poll does not name it as their own")
	}

	// The contact's vote on the Matrix poll shows the Matrix answer IDs.
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waVote(testContact, "VOTE1", poll.id, "Beach")); err != nil {
		t.Fatal(err)
	}
	if resp, ok := lastSent(t, e).content.(*event.PollResponseEventContent); !ok || !slices.Equal(resp.Response.Answers, []string{"answer-b"}) {
		t.Errorf("contact's vote came as %+v", lastSent(t, e).content)
	}

	// A vote on the contact's WhatsApp poll.
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waPollMessage(testContact, "POLL2", "Lunch?", 1, "Pizza", "Sushi")); err != nil {
		t.Fatal(err)
	}
	waPoll := lastSent(t, e).target
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxPollResponse(roomID, "$vote2", waPoll, msgconv.PollAnswerID("Sushi"))); err != nil {
		t.Fatal(err)
	}
	sends = e.cli.sent()
	target, selected = votedOptions(t, sends[len(sends)-1].msg)
	if target != "POLL2" || len(selected) != 1 || string(selected[0]) != string(whatsmeow.HashPollOptions([]string{"Sushi"})[0]) {
		t.Errorf("vote on %s chose %x", target, selected)
	}
	if key := sends[len(sends)-1].msg.GetPollUpdateMessage().GetPollCreationMessageKey(); key.GetFromMe() || key.GetRemoteJID() != testContact.String() {
		t.Errorf("vote on the contact's poll has key %v", key)
	}

	refusals := []struct {
		name string
		evt  *event.Event
	}{
		{"one answer", mxPollStart(roomID, "$bad1", "Where?", 1, "Park")},
		{"unknown answer", mxPollResponse(roomID, "$bad2", "$poll", "answer-z")},
		{"vote on a text", mxPollResponse(roomID, "$bad3", e.mx.callsOf("SendEvent")[0].target, "answer-a")},
		{"poll end", mxEvent(roomID, "$bad4", event.EventUnstablePollEnd, nil)},
	}
	for _, r := range refusals {
		before := len(e.cli.sent())
		_, err := e.m.HandleMatrixEvent(e.ctx, r.evt)
		var perm PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("%s: err %v, want a permanent error", r.name, err)
		}
		if len(e.cli.sent()) != before {
			t.Errorf("%s: something was sent to WhatsApp", r.name)
		}
	}
	e.cli.noPollSecret = true
	_, err := e.m.HandleMatrixEvent(e.ctx, mxPollResponse(roomID, "$vote3", "$poll", "answer-a"))
	var perm PermanentError
	if !errors.As(err, &perm) {
		t.Errorf("vote without the poll's secret: err %v, want a permanent error", err)
	}
}
