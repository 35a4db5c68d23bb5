package wasim

import (
	"testing"
)

// A companion paired to an account that is already in a group (a bridge logging in) lists the
// group, gets the members' next messages, and its own messages reach them.
func TestGroupCompanionPairedLater(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	sam := newAccount(t, ctx, srv, "Sam")
	tia := newContact(t, ctx, srv, "Tia")
	group, err := srv.CreateGroup(ctx, tia.Account(), "Before the bridge", sam)
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	waitJoined(t, ctx, "Sam's phone", sam.Phone().EventLog, group)
	if _, err = tia.SendText(ctx, group, "early"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Sam's phone", sam.Phone().EventLog, group, "early", tia.Account(), false)

	bridge := pairByQR(t, ctx, srv, sam)
	joined, err := bridge.cli.GetJoinedGroups(ctx)
	if err != nil || len(joined) != 1 || joined[0].JID != group || joined[0].Name != "Before the bridge" {
		t.Fatalf("bridge's GetJoinedGroups = %d groups, %v", len(joined), err)
	}
	if got := srv.GroupsOf(sam); len(got) != 1 || got[0] != group {
		t.Fatalf("GroupsOf = %v", got)
	}
	if _, err = tia.SendText(ctx, group, "late"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "late", tia.Account(), false)
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("bridge says hi")); err != nil {
		t.Fatalf("bridge send failed: %v", err)
	}
	waitGroupText(t, ctx, "Tia", tia.EventLog, group, "bridge says hi", sam, false)
	waitGroupText(t, ctx, "Sam's phone", sam.Phone().EventLog, group, "bridge says hi", sam, true)
	assertNoRetries(t, map[string]*EventLog{"bridge": bridge.EventLog, "Tia": tia.EventLog})
}
