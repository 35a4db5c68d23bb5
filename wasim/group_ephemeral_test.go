package wasim

import (
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestGroupDisappearingTimer: a member sets the group's timer, every member hears of it (a group
// change with the timer) and the group's info carries it; turning it off is heard too, and a
// timer WhatsApp does not offer is refused as whatsmeow expects.
func TestGroupDisappearingTimer(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ann := newContact(t, ctx, srv, "Ann")
	ben := newContact(t, ctx, srv, "Ben")
	info, err := ann.Client().CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Timers", Participants: []types.JID{ben.JID()}})
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "Ben", ben.EventLog, info.JID)

	if err = ben.Client().SetDisappearingTimer(ctx, info.JID, whatsmeow.DisappearingTimer7Days, time.Time{}); err != nil {
		t.Fatalf("setting the timer: %v", err)
	}
	on := waitGroupInfo(t, ctx, "Ann", ann.EventLog, info.JID, func(evt *events.GroupInfo) bool { return evt.Ephemeral != nil })
	if !on.Ephemeral.IsEphemeral || on.Ephemeral.DisappearingTimer != 604800 || on.Sender == nil || on.Sender.User != ben.LID().User {
		t.Fatalf("Ann heard %+v from %v", on.Ephemeral, on.Sender)
	}
	got, err := ann.Client().GetGroupInfo(ctx, info.JID)
	if err != nil || !got.IsEphemeral || got.DisappearingTimer != 604800 {
		t.Fatalf("group info: ephemeral %v timer %d (%v)", got != nil && got.IsEphemeral, got.DisappearingTimer, err)
	}

	if err = ann.Client().SetDisappearingTimer(ctx, info.JID, 0, time.Time{}); err != nil {
		t.Fatalf("turning the timer off: %v", err)
	}
	waitGroupInfo(t, ctx, "Ben", ben.EventLog, info.JID, func(evt *events.GroupInfo) bool {
		return evt.Ephemeral != nil && !evt.Ephemeral.IsEphemeral
	})
	if err = ann.Client().SetDisappearingTimer(ctx, info.JID, 5*time.Minute, time.Time{}); !errors.Is(err, whatsmeow.ErrInvalidDisappearingTimer) {
		t.Fatalf("a 5 minute timer: err %v, want ErrInvalidDisappearingTimer", err)
	}
}
