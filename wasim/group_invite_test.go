package wasim

import (
	"errors"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"
)

// TestGroupInviteLinks drives invite links through whatsmeow's own calls: an admin gets the link
// (the same one twice), a member may not, a stranger previews and joins by it (members see the
// join, the newcomer's devices get the group), then a reset revokes the old link, members learn
// the new one, and old, unknown and revoked links are refused with whatsmeow's errors.
func TestGroupInviteLinks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ana := newAccount(t, ctx, srv, "Ana")
	ben := newContact(t, ctx, srv, "Ben")
	cleo := newContact(t, ctx, srv, "Cleo")
	dan := newContact(t, ctx, srv, "Dan")
	bridge := pairByQR(t, ctx, srv, ana)

	group, err := srv.CreateGroup(ctx, ana, "Book club", ben.Account())
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "bridge", bridge.EventLog, group)
	waitJoined(t, ctx, "Ben", ben.EventLog, group)

	link, err := bridge.cli.GetGroupInviteLink(ctx, group, false)
	if err != nil || !strings.HasPrefix(link, whatsmeow.InviteLinkPrefix) || len(link) != len(whatsmeow.InviteLinkPrefix)+inviteCodeLength {
		t.Fatalf("GetGroupInviteLink = %q, %v", link, err)
	}
	if again, err := bridge.cli.GetGroupInviteLink(ctx, group, false); err != nil || again != link {
		t.Fatalf("second GetGroupInviteLink = %q, %v; want the same %q", again, err, link)
	}
	if same, err := srv.GroupInviteLink(ctx, ana, group, false); err != nil || same != link {
		t.Fatalf("control API link = %q, %v; want %q", same, err, link)
	}
	if _, err = ben.Client().GetGroupInviteLink(ctx, group, false); !errors.Is(err, whatsmeow.ErrGroupInviteLinkUnauthorized) {
		t.Fatalf("member's GetGroupInviteLink error = %v, want ErrGroupInviteLinkUnauthorized", err)
	}
	if _, err = cleo.Client().GetGroupInviteLink(ctx, group, false); !errors.Is(err, whatsmeow.ErrNotInGroup) {
		t.Fatalf("stranger's GetGroupInviteLink error = %v, want ErrNotInGroup", err)
	}

	info, err := cleo.Client().GetGroupInfoFromLink(ctx, link)
	if err != nil || info.JID != group || info.Name != "Book club" || len(info.Participants) != 2 {
		t.Fatalf("GetGroupInfoFromLink = %+v, %v", info, err)
	}
	joinedJID, err := cleo.Client().JoinGroupWithLink(ctx, link)
	if err != nil || joinedJID != group {
		t.Fatalf("JoinGroupWithLink = %s, %v; want %s", joinedJID, err, group)
	}
	joined := waitJoined(t, ctx, "Cleo", cleo.EventLog, group)
	if joined.Reason != "invite" || len(joined.Participants) != 3 {
		t.Fatalf("Cleo's JoinedGroup: reason %q, %d participants", joined.Reason, len(joined.Participants))
	}
	for who, log := range map[string]*EventLog{"bridge": bridge.EventLog, "Ben": ben.EventLog} {
		gi := waitGroupInfo(t, ctx, who, log, group, func(gi *events.GroupInfo) bool { return len(gi.Join) == 1 })
		if gi.Join[0].User != cleo.LID().User || gi.JoinReason != "invite" {
			t.Fatalf("%s saw join of %v with reason %q", who, gi.Join, gi.JoinReason)
		}
	}
	if _, err = cleo.SendText(ctx, group, "hi all"); err != nil {
		t.Fatalf("newcomer's send failed: %v", err)
	}
	waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "hi all", cleo.Account(), false)
	if again, err := cleo.Client().JoinGroupWithLink(ctx, link); err != nil || again != group {
		t.Fatalf("joining again = %s, %v; want the group again", again, err)
	}

	fresh, err := bridge.cli.GetGroupInviteLink(ctx, group, true)
	if err != nil || fresh == link || !strings.HasPrefix(fresh, whatsmeow.InviteLinkPrefix) {
		t.Fatalf("reset link = %q, %v; want a new link", fresh, err)
	}
	gi := waitGroupInfo(t, ctx, "Ben", ben.EventLog, group, func(gi *events.GroupInfo) bool { return gi.NewInviteLink != nil })
	if *gi.NewInviteLink != fresh {
		t.Fatalf("Ben learnt link %q, want %q", *gi.NewInviteLink, fresh)
	}
	if _, err = dan.Client().JoinGroupWithLink(ctx, link); !errors.Is(err, whatsmeow.ErrInviteLinkRevoked) {
		t.Fatalf("joining by the revoked link: %v, want ErrInviteLinkRevoked", err)
	}
	if _, err = dan.Client().GetGroupInfoFromLink(ctx, link); !errors.Is(err, whatsmeow.ErrInviteLinkRevoked) {
		t.Fatalf("preview of the revoked link: %v, want ErrInviteLinkRevoked", err)
	}
	if _, err = dan.Client().JoinGroupWithLink(ctx, whatsmeow.InviteLinkPrefix+"NOSUCHCODE"); !errors.Is(err, whatsmeow.ErrInviteLinkInvalid) {
		t.Fatalf("joining by an unknown link: %v, want ErrInviteLinkInvalid", err)
	}
	if members, _ := srv.GroupMembers(group); len(members) != 3 {
		t.Fatalf("group has %d members after refused joins, want 3", len(members))
	}
	if _, err = srv.JoinGroupWithLink(ctx, dan.Account(), fresh); err != nil {
		t.Fatalf("control API join: %v", err)
	}
	waitJoined(t, ctx, "Dan", dan.EventLog, group)
}
