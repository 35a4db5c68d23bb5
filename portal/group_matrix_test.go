package portal

import (
	"testing"

	"maunium.net/go/mautrix/event"
)

// TestMatrixGroupInfo: a name or topic set in Matrix is set on WhatsApp; when WhatsApp refuses
// (the group's info is locked to admins), the bot puts the old value back and says why.
func TestMatrixGroupInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := groupPortal(t, e)
	room := p.MXID()
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(room, "$name", event.StateRoomName, &event.RoomNameEventContent{Name: "Renamed"})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(room, "$topic", event.StateTopic, &event.TopicEventContent{Topic: "New topic"})); err != nil {
		t.Fatal(err)
	}
	if e.cli.group.Name != "Renamed" || e.cli.group.Topic != "New topic" {
		t.Fatalf("WhatsApp group is %q / %q", e.cli.group.Name, e.cli.group.Topic)
	}
	states := len(e.mx.callsOf("SetState"))

	e.cli.groupLocked = true
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(room, "$name2", event.StateRoomName, &event.RoomNameEventContent{Name: "Nope"})); err != nil {
		t.Fatal(err)
	}
	reverts := e.mx.callsOf("SetState")[states:]
	if len(reverts) != 1 || reverts[0].evtType != event.StateRoomName || reverts[0].content.(*event.RoomNameEventContent).Name != "Renamed" || reverts[0].user != testBot {
		t.Fatalf("reverts %+v", reverts)
	}
	notice, _ := lastSent(t, e).content.(*event.MessageEventContent)
	if notice == nil || notice.Body != "The group's name was not changed on WhatsApp (only the group's admins may change its info), so it was changed back here." {
		t.Errorf("notice %+v", lastSent(t, e).content)
	}
	if e.cli.group.Name != "Renamed" || p.row.Name != "Renamed" {
		t.Errorf("name is %q on WhatsApp, %q stored", e.cli.group.Name, p.row.Name)
	}
}
