package portal

import (
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// disappearingStates returns the disappearing timer state events set so far.
func disappearingStates(e *env) []*event.BeeperDisappearingTimer {
	var out []*event.BeeperDisappearingTimer
	for _, c := range e.mx.callsOf("SetState") {
		if c.evtType == event.StateBeeperDisappearingTimer {
			out = append(out, c.content.(*event.BeeperDisappearingTimer))
		}
	}
	return out
}

// TestDisappearingFromWhatsApp: a timer change on WhatsApp sets the room's state and posts a notice
// from the one who changed it; a repeat changes nothing; messages sent from Matrix then carry the
// timer, reactions do not.
func TestDisappearingFromWhatsApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	setting := func(msgID string, seconds uint32) {
		t.Helper()
		evt := waMessage(testContact, testContact, msgID, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum(), EphemeralExpiration: proto.Uint32(seconds),
		}})
		if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, evt); err != nil {
			t.Fatal(err)
		}
	}
	setting("EPH1", 604800)
	setting("EPH2", 604800)
	states := disappearingStates(e)
	if len(states) != 1 || states[0].Type != event.DisappearingTypeAfterSend || states[0].Timer.Duration != 7*24*time.Hour {
		t.Fatalf("timer states %+v", states)
	}
	notice := lastSent(t, e)
	if c, _ := notice.content.(*event.MessageEventContent); c == nil || c.Body != msgconv.DisappearingNotice(7*24*time.Hour) || notice.user != e.ghost(testContact) {
		t.Errorf("notice %+v from %s", notice.content, notice.user)
	}

	if _, err := e.m.HandleMatrixEvent(e.ctx, mxText(roomID, "$t1", "hello")); err != nil {
		t.Fatal(err)
	}
	first := e.mx.callsOf("SendEvent")[0].target
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(roomID, "$r1", event.EventReaction, &event.ReactionEventContent{
		RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: first, Key: "👍"}})); err != nil {
		t.Fatal(err)
	}
	sends := e.cli.sent()
	if exp := sends[len(sends)-2].msg.GetExtendedTextMessage().GetContextInfo().GetExpiration(); exp != 604800 {
		t.Errorf("text sent with expiration %d, want 604800", exp)
	}
	if r := sends[len(sends)-1].msg.GetReactionMessage(); r == nil || r.GetText() != "👍" {
		t.Errorf("reaction sent as %v", sends[len(sends)-1].msg)
	}

	setting("EPH3", 0)
	states = disappearingStates(e)
	if len(states) != 2 || states[1].Type != event.DisappearingTypeNone {
		t.Fatalf("timer states after off %+v", states)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxText(roomID, "$t2", "plain again")); err != nil {
		t.Fatal(err)
	}
	sends = e.cli.sent()
	if sends[len(sends)-1].msg.GetConversation() != "plain again" {
		t.Errorf("text after off sent as %v", sends[len(sends)-1].msg)
	}
}

// TestDisappearingFromMatrix: the command's change goes to WhatsApp and shows in the room as the
// bot's; WhatsApp's refusal and a room that is no portal are errors, and change nothing.
func TestDisappearingFromMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	if err := e.m.SetDisappearingTimer(e.ctx, roomID, testUser, 24*time.Hour, "$cmd1"); err != nil {
		t.Fatal(err)
	}
	if len(e.cli.timers) != 1 || e.cli.timers[0].chat != testContact || e.cli.timers[0].timer != 24*time.Hour {
		t.Fatalf("WhatsApp got timers %+v", e.cli.timers)
	}
	if states := disappearingStates(e); len(states) != 1 || states[0].Timer.Duration != 24*time.Hour {
		t.Fatalf("timer states %+v", states)
	}
	if notice := lastSent(t, e); notice.user != testBot || notice.txnID != "mw.disappear.$cmd1" {
		t.Errorf("notice from %s with txn %s", notice.user, notice.txnID)
	}
	// The timer the chat has already: nothing goes to WhatsApp, and the caller is told.
	if err := e.m.SetDisappearingTimer(e.ctx, roomID, testUser, 24*time.Hour, "$cmd1b"); !errors.Is(err, ErrTimerUnchanged) {
		t.Errorf("setting the same timer again: %v, want ErrTimerUnchanged", err)
	}
	if len(e.cli.timers) != 1 {
		t.Errorf("setting the same timer again sent %+v", e.cli.timers)
	}
	e.cli.failNext(errors.New("bad request"))
	if err := e.m.SetDisappearingTimer(e.ctx, roomID, testUser, 7*24*time.Hour, "$cmd2"); err == nil {
		t.Error("WhatsApp's refusal was not reported")
	}
	if err := e.m.SetDisappearingTimer(e.ctx, "!elsewhere:example.org", testUser, 0, "$cmd3"); !errors.Is(err, ErrNotAPortal) {
		t.Errorf("room without portal: %v", err)
	}
	if err := e.m.SetDisappearingTimer(e.ctx, roomID, "@stranger:example.org", 0, "$cmd4"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("user without login: %v", err)
	}
	if states := disappearingStates(e); len(states) != 1 {
		t.Errorf("failed changes set state: %+v", states)
	}
}

// TestDisappearingInGroup: a group created with a timer shows it in the new room; a change of the
// group's timer on WhatsApp shows as state and a notice, turning it off too.
func TestDisappearingInGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cli.group = &types.GroupInfo{JID: testGroup, GroupName: types.GroupName{Name: "Test group"},
		GroupEphemeral: types.GroupEphemeral{IsEphemeral: true, DisappearingTimer: 86400}}
	p := e.portal(testGroup)
	if err := p.run(e.ctx, &ensureRoomEvent{login: e.login}); err != nil {
		t.Fatal(err)
	}
	if states := disappearingStates(e); len(states) != 1 || states[0].Timer.Duration != 24*time.Hour {
		t.Fatalf("timer states at creation %+v", states)
	}
	for i, change := range []types.GroupEphemeral{{IsEphemeral: true, DisappearingTimer: 7776000}, {IsEphemeral: false}} {
		err := e.m.HandleGroupInfo(e.ctx, e.login, &events.GroupInfo{
			JID: testGroup, Timestamp: time.UnixMilli(1700000000000 + int64(i)), Ephemeral: &change,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	states := disappearingStates(e)
	if len(states) != 3 || states[1].Timer.Duration != 90*24*time.Hour || states[2].Type != event.DisappearingTypeNone {
		t.Fatalf("timer states %+v", states)
	}
	if c, _ := lastSent(t, e).content.(*event.MessageEventContent); c == nil || c.Body != msgconv.DisappearingNotice(0) {
		t.Errorf("last notice %+v", lastSent(t, e).content)
	}
}
