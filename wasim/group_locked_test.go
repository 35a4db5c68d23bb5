package wasim

import (
	"errors"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestGroupLockedInfo: any member may rename a group until an admin locks its info; then only
// admins may rename it or change its description, and members hear of the lock.
func TestGroupLockedInfo(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ann := newContact(t, ctx, srv, "Ann")
	ben := newContact(t, ctx, srv, "Ben")
	info, err := ann.Client().CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Open", Participants: []types.JID{ben.JID()}})
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "Ben", ben.EventLog, info.JID)
	if err = ben.Client().SetGroupName(ctx, info.JID, "Renamed by Ben"); err != nil {
		t.Fatalf("member rename of an open group: %v", err)
	}
	if err = ben.Client().SetGroupLocked(ctx, info.JID, true); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
		t.Fatalf("member lock: err %v, want not authorized", err)
	}
	if err = ann.Client().SetGroupLocked(ctx, info.JID, true); err != nil {
		t.Fatal(err)
	}
	waitGroupInfo(t, ctx, "Ben", ben.EventLog, info.JID, func(evt *events.GroupInfo) bool { return evt.Locked != nil && evt.Locked.IsLocked })
	if err = ben.Client().SetGroupName(ctx, info.JID, "Again"); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
		t.Fatalf("member rename of a locked group: err %v, want not authorized", err)
	}
	if err = ben.Client().SetGroupTopic(ctx, info.JID, "", "", "topic"); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
		t.Fatalf("member topic of a locked group: err %v, want not authorized", err)
	}
	if err = ann.Client().SetGroupName(ctx, info.JID, "Admin's name"); err != nil {
		t.Fatalf("admin rename of a locked group: %v", err)
	}
	got, err := ben.Client().GetGroupInfo(ctx, info.JID)
	if err != nil || got.Name != "Admin's name" || !got.IsLocked {
		t.Fatalf("group info: %q locked %v (%v)", got.Name, got.IsLocked, err)
	}
}
