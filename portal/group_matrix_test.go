package portal

import (
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
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
	if notice == nil || notice.Body != "The group's name was not changed on WhatsApp (only the group's admins may do that), so it was changed back here." {
		t.Errorf("notice %+v", lastSent(t, e).content)
	}
	if e.cli.group.Name != "Renamed" || p.row.Name != "Renamed" {
		t.Errorf("name is %q on WhatsApp, %q stored", e.cli.group.Name, p.row.Name)
	}
}

// TestMatrixGroupMembers: inviting a contact's ghost adds the contact on WhatsApp and the ghost
// joins; kicking it removes them; a refusal undoes the change in the room with a notice. In a
// direct chat nothing is sent.
func TestMatrixGroupMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := groupPortal(t, e)
	room, ghost := p.MXID(), e.ghost(testContact)
	member := func(evtID id.EventID, membership event.Membership) *event.Event {
		evt := mxEvent(room, evtID, event.StateMember, &event.MemberEventContent{Membership: membership})
		key := ghost.String()
		evt.StateKey = &key
		return evt
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, member("$invite", event.MembershipInvite)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, member("$kick", event.MembershipLeave)); err != nil {
		t.Fatal(err)
	}
	if got := e.cli.memberChanges; len(got) != 2 || got[0] != "add" || got[1] != "remove" {
		t.Fatalf("WhatsApp got %v", got)
	}
	joined := false
	for _, c := range e.mx.callsOf("EnsureJoined") {
		joined = joined || c.user == ghost
	}
	if !joined {
		t.Error("the added contact's ghost did not join")
	}

	e.cli.groupLocked = true
	kicks := len(e.mx.callsOf("Kick"))
	if _, err := e.m.HandleMatrixEvent(e.ctx, member("$invite2", event.MembershipInvite)); err != nil {
		t.Fatal(err)
	}
	if k := e.mx.callsOf("Kick"); len(k) != kicks+1 || k[len(k)-1].other != ghost {
		t.Errorf("refused invite not undone: kicks %+v", k)
	}
	if notice, _ := lastSent(t, e).content.(*event.MessageEventContent); notice == nil ||
		!strings.HasSuffix(notice.Body, " was not added to the WhatsApp group (only the group's admins may do that), so the invite was withdrawn here.") {
		t.Errorf("notice %+v", lastSent(t, e).content)
	}
}

// TestMatrixGroupAdmins: raising a contact's ghost to moderator promotes them on WhatsApp; when
// WhatsApp refuses, the bot sets the power level back with a notice.
func TestMatrixGroupAdmins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := groupPortal(t, e)
	e.cli.group.Participants = []types.GroupParticipant{{JID: testContact, PhoneNumber: testContact}}
	ghost := e.ghost(testContact)
	levels := func(evtID id.EventID, level int) *event.Event {
		return mxEvent(p.MXID(), evtID, event.StatePowerLevels, &event.PowerLevelsEventContent{Users: map[id.UserID]int{ghost: level}})
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, levels("$pl1", 50)); err != nil {
		t.Fatal(err)
	}
	if got := e.cli.memberChanges; len(got) != 1 || got[0] != "promote" {
		t.Fatalf("WhatsApp got %v", got)
	}
	e.cli.groupLocked = true
	states := len(e.mx.callsOf("SetState"))
	if _, err := e.m.HandleMatrixEvent(e.ctx, levels("$pl2", 100)); err != nil {
		t.Fatal(err)
	}
	reverts := e.mx.callsOf("SetState")[states:]
	if len(reverts) != 1 || reverts[0].evtType != event.StatePowerLevels || reverts[0].content.(*event.PowerLevelsEventContent).GetUserLevel(ghost) != 0 {
		t.Fatalf("reverts %+v", reverts)
	}
	if notice, _ := lastSent(t, e).content.(*event.MessageEventContent); notice == nil ||
		notice.Body != "The group's admins were not changed on WhatsApp (only the group's admins may do that), so the power levels were changed back here." {
		t.Errorf("notice %+v", lastSent(t, e).content)
	}
}

// TestMatrixGroupLeaveAndAvatar: the user leaving a group's room leaves the WhatsApp group, leaving
// a direct chat's room does not; removing the room avatar removes the group's picture, and a
// refused picture change puts the avatar back with a notice.
func TestMatrixGroupLeaveAndAvatar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dm := dmRoom(t, e)
	p := groupPortal(t, e)
	leave := func(room id.RoomID, evtID id.EventID) *event.Event {
		evt := mxEvent(room, evtID, event.StateMember, &event.MemberEventContent{Membership: event.MembershipLeave})
		key := testUser.String()
		evt.StateKey = &key
		return evt
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, leave(dm, "$leavedm")); err != nil {
		t.Fatal(err)
	}
	if len(e.cli.left) != 0 {
		t.Fatalf("leaving a direct chat's room left %v on WhatsApp", e.cli.left)
	}

	jpegData := []byte("\xff\xd8\xff\xe0 picture")
	e.mx.media = jpegData
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(p.MXID(), "$avatar1", event.StateRoomAvatar, &event.RoomAvatarEventContent{URL: "mxc://example.org/pic1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(p.MXID(), "$noavatar", event.StateRoomAvatar, &event.RoomAvatarEventContent{})); err != nil {
		t.Fatal(err)
	}
	if len(e.cli.photos) != 2 || string(e.cli.photos[0]) != string(jpegData) || e.cli.photos[1] != nil {
		t.Fatalf("WhatsApp got pictures %q, want the JPEG, then a removal", e.cli.photos)
	}
	states := len(e.mx.callsOf("SetState"))
	e.cli.groupLocked = true
	if _, err := e.m.HandleMatrixEvent(e.ctx, mxEvent(p.MXID(), "$avatar", event.StateRoomAvatar, &event.RoomAvatarEventContent{URL: "mxc://example.org/pic"})); err != nil {
		t.Fatal(err)
	}
	reverts := e.mx.callsOf("SetState")[states:]
	if len(reverts) != 1 || reverts[0].evtType != event.StateRoomAvatar || reverts[0].content.(*event.RoomAvatarEventContent).URL != "" {
		t.Fatalf("reverts %+v, want the avatar removed again", reverts)
	}
	notice, _ := lastSent(t, e).content.(*event.MessageEventContent)
	if notice == nil || notice.Body != "The group's picture was not changed on WhatsApp (only the group's admins may do that), so it was changed back here." {
		t.Errorf("notice %+v", lastSent(t, e).content)
	}

	if _, err := e.m.HandleMatrixEvent(e.ctx, leave(p.MXID(), "$leavegroup")); err != nil {
		t.Fatal(err)
	}
	if len(e.cli.left) != 1 || e.cli.left[0] != p.Key.JID {
		t.Fatalf("leaving the group's room left %v on WhatsApp, want %s", e.cli.left, p.Key.JID)
	}
}
