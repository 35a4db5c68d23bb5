package demo

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// groupTimeout bounds the optional group step, so that a simulator or bridge without group support
// cannot hold up the demo.
const groupTimeout = 60 * time.Second

// startGroup has Alice create a WhatsApp group with Bob and the demo user and say hello in it, then
// waits for its portal. It returns an error (and the demo goes on without a group) when the
// simulator does not support groups.
func startGroup(ctx context.Context, cfg Config, m *matrixSide, acct *wasim.Account, alice, bob *wasim.Contact) (id.RoomID, error) {
	ctx, cancel := context.WithTimeout(ctx, groupTimeout)
	defer cancel()
	m.leaveOldGroups(ctx, GroupName)
	info, err := alice.Client().CreateGroup(ctx, whatsmeow.ReqCreateGroup{
		Name:         GroupName,
		Participants: []types.JID{acct.JID(), bob.JID()},
	})
	if err != nil {
		return "", fmt.Errorf("the simulator could not create a group (%w)", err)
	}
	since := time.Now()
	if _, err = alice.SendText(ctx, info.JID, GroupHello); err != nil {
		return "", fmt.Errorf("alice could not write in the group (%w)", err)
	}
	room, err := m.findPortal(ctx, "the group portal", ghost(cfg, Alice), GroupHello, since)
	if err != nil {
		return "", fmt.Errorf("the group portal did not appear (%w)", err)
	}
	return room, nil
}

// leaveOldGroups leaves (and forgets) the group portals named groupName of earlier demo runs: their
// WhatsApp group was lost with the previous simulator, so each run makes a new one. Failures only
// leave clutter.
func (m *matrixSide) leaveOldGroups(ctx context.Context, groupName string) {
	rooms, err := m.client.JoinedRooms(ctx)
	if err != nil {
		return
	}
	for _, room := range rooms.JoinedRooms {
		var name event.RoomNameEventContent
		if err = m.client.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != groupName {
			continue
		}
		if _, err = m.client.LeaveRoom(ctx, room); err == nil {
			_, _ = m.client.ForgetRoom(ctx, room)
		}
	}
}
