package wasim

import (
	"slices"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestGroupSubjectAndTopicChanges(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	gus := newAccount(t, ctx, srv, "Gus")
	hal := newContact(t, ctx, srv, "Hal")
	bridge := pairByQR(t, ctx, srv, gus)
	group, err := srv.CreateGroup(ctx, gus, "Old name", hal.Account())
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	waitJoined(t, ctx, "bridge", bridge.EventLog, group)
	waitJoined(t, ctx, "Hal", hal.EventLog, group)

	// A change made by the bridge reaches the other member and the bridge itself.
	if err = bridge.cli.SetGroupName(ctx, group, "New name"); err != nil {
		t.Fatalf("SetGroupName failed: %v", err)
	}
	for who, log := range map[string]*EventLog{"Hal": hal.EventLog, "bridge": bridge.EventLog} {
		evt := waitGroupInfo(t, ctx, who, log, group, func(gi *events.GroupInfo) bool { return gi.Name != nil })
		if evt.Name.Name != "New name" || evt.Sender == nil || evt.Sender.User != gus.LID().User ||
			evt.SenderPN == nil || *evt.SenderPN != gus.JID() || evt.Name.NameSetBy.User != gus.LID().User {
			t.Fatalf("%s: name event %+v from %v / %v", who, evt.Name, evt.Sender, evt.SenderPN)
		}
	}
	if err = bridge.cli.SetGroupTopic(ctx, group, "", "", "What we talk about"); err != nil {
		t.Fatalf("SetGroupTopic failed: %v", err)
	}
	evt := waitGroupInfo(t, ctx, "Hal", hal.EventLog, group, func(gi *events.GroupInfo) bool { return gi.Topic != nil })
	if evt.Topic.Topic != "What we talk about" || evt.Topic.TopicID == "" || evt.Topic.TopicSetBy.User != gus.LID().User {
		t.Fatalf("topic event %+v", evt.Topic)
	}
	info, err := hal.Client().GetGroupInfo(ctx, group)
	if err != nil {
		t.Fatalf("GetGroupInfo failed: %v", err)
	}
	if info.Name != "New name" || info.Topic != "What we talk about" || info.TopicID != evt.Topic.TopicID || info.TopicSetBy.User != gus.LID().User {
		t.Fatalf("group info after changes: name %q topic %q (%s by %s)", info.Name, info.Topic, info.TopicID, info.TopicSetBy)
	}

	// The same through the Go control API, as the contact.
	if err = srv.SetGroupName(ctx, hal.Account(), group, "Renamed by Hal"); err != nil {
		t.Fatalf("srv.SetGroupName failed: %v", err)
	}
	waitGroupInfo(t, ctx, "bridge", bridge.EventLog, group, func(gi *events.GroupInfo) bool {
		return gi.Name != nil && gi.Name.Name == "Renamed by Hal" && gi.Sender != nil && gi.Sender.User == hal.LID().User
	})
	if err = srv.SetGroupTopic(ctx, hal.Account(), group, ""); err != nil {
		t.Fatalf("srv.SetGroupTopic failed: %v", err)
	}
	waitGroupInfo(t, ctx, "bridge", bridge.EventLog, group, func(gi *events.GroupInfo) bool {
		return gi.Topic != nil && gi.Topic.TopicDeleted
	})
	if err = bridge.cli.SetGroupName(ctx, group, ""); err == nil {
		t.Fatal("an empty group name was accepted")
	}
}

func TestGroupMembershipChanges(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ida := newAccount(t, ctx, srv, "Ida")
	jon := newContact(t, ctx, srv, "Jon")
	kai := newContact(t, ctx, srv, "Kai")
	bridge := pairByQR(t, ctx, srv, ida)
	group, err := srv.CreateGroup(ctx, ida, "Club", jon.Account())
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	waitJoined(t, ctx, "bridge", bridge.EventLog, group)
	waitJoined(t, ctx, "Jon", jon.EventLog, group)
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("before Kai")); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Jon", jon.EventLog, group, "before Kai", ida, false)

	res, err := bridge.cli.UpdateGroupParticipants(ctx, group, []types.JID{kai.JID()}, whatsmeow.ParticipantChangeAdd)
	if err != nil || len(res) != 1 || res[0].Error != 0 || res[0].LID != kai.LID() || res[0].PhoneNumber != kai.JID() {
		t.Fatalf("add: %+v, %v", res, err)
	}
	waitJoined(t, ctx, "Kai", kai.EventLog, group)
	for who, log := range map[string]*EventLog{"Jon": jon.EventLog, "bridge": bridge.EventLog} {
		waitGroupInfo(t, ctx, who, log, group, func(gi *events.GroupInfo) bool {
			return slices.Contains(gi.Join, kai.LID()) && gi.Sender != nil && gi.Sender.User == ida.LID().User
		})
	}
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("welcome Kai")); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Kai", kai.EventLog, group, "welcome Kai", ida, false)
	if _, err = jon.SendText(ctx, group, "hi from Jon"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Kai", kai.EventLog, group, "hi from Jon", jon.Account(), false)
	if _, err = kai.SendText(ctx, group, "hi from Kai"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "hi from Kai", kai.Account(), false)
	if n := countText(kai.EventLog, "before Kai"); n != 0 {
		t.Fatalf("Kai got a message from before he joined")
	}

	// Promote and demote.
	if _, err = bridge.cli.UpdateGroupParticipants(ctx, group, []types.JID{kai.LID()}, whatsmeow.ParticipantChangePromote); err != nil {
		t.Fatalf("promote failed: %v", err)
	}
	waitGroupInfo(t, ctx, "Jon", jon.EventLog, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Promote, kai.LID()) })
	info, err := jon.Client().GetGroupInfo(ctx, group)
	if err != nil || participantByLID(info, kai.Account()) == nil || !participantByLID(info, kai.Account()).IsAdmin {
		t.Fatalf("Kai is not an admin after promotion (%v)", err)
	}
	if _, err = bridge.cli.UpdateGroupParticipants(ctx, group, []types.JID{kai.LID()}, whatsmeow.ParticipantChangeDemote); err != nil {
		t.Fatalf("demote failed: %v", err)
	}
	waitGroupInfo(t, ctx, "Kai", kai.EventLog, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Demote, kai.LID()) })
	if _, err = jon.Client().UpdateGroupParticipants(ctx, group, []types.JID{kai.JID()}, whatsmeow.ParticipantChangeRemove); err == nil {
		t.Fatal("a non-admin removed a member")
	}

	// Remove: Kai hears of it, and gets nothing afterwards.
	if _, err = bridge.cli.UpdateGroupParticipants(ctx, group, []types.JID{kai.JID()}, whatsmeow.ParticipantChangeRemove); err != nil {
		t.Fatalf("remove failed: %v", err)
	}
	for who, log := range map[string]*EventLog{"Kai": kai.EventLog, "Jon": jon.EventLog, "bridge": bridge.EventLog} {
		waitGroupInfo(t, ctx, who, log, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Leave, kai.LID()) })
	}
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("after Kai")); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Jon", jon.EventLog, group, "after Kai", ida, false)
	// A DM sent after the group message arrives after it; by then a leak would have shown.
	if _, err = bridge.cli.SendMessage(ctx, kai.JID(), textMessage("marker")); err != nil {
		t.Fatalf("DM failed: %v", err)
	}
	if _, err = kai.WaitMessage(ctx, textIs("marker")); err != nil {
		t.Fatalf("Kai did not get the marker: %v", err)
	}
	if n := countText(kai.EventLog, "after Kai"); n != 0 {
		t.Fatal("Kai got a group message after his removal")
	}
	if _, err = kai.Client().GetGroupInfo(ctx, group); err == nil {
		t.Fatal("a removed member could still read the group info")
	}

	// Leave: Jon goes, the others see it and his group list is empty.
	if err = jon.Client().LeaveGroup(ctx, group); err != nil {
		t.Fatalf("LeaveGroup failed: %v", err)
	}
	waitGroupInfo(t, ctx, "bridge", bridge.EventLog, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Leave, jon.LID()) })
	if groups, err := jon.Client().GetJoinedGroups(ctx); err != nil || len(groups) != 0 {
		t.Fatalf("Jon's groups after leaving: %d, %v", len(groups), err)
	}
	assertNoRetries(t, map[string]*EventLog{"bridge": bridge.EventLog, "Jon": jon.EventLog, "Kai": kai.EventLog})
	members, err := srv.GroupMembers(group)
	if err != nil || len(members) != 1 || members[0].Account != ida || !members[0].IsSuperAdmin {
		t.Fatalf("members at the end: %+v, %v", members, err)
	}
}

// A group message for a member whose phone is offline is delivered exactly once when it is back,
// and a member added through the Go API gets the next messages.
func TestGroupOfflineMemberAndAPIAdd(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	lou := newAccount(t, ctx, srv, "Lou")
	moe := newContact(t, ctx, srv, "Moe")
	nia := newContact(t, ctx, srv, "Nia")
	bridge := pairByQR(t, ctx, srv, lou)
	group, err := srv.CreateGroup(ctx, lou, "Offline", moe.Account())
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	waitJoined(t, ctx, "Moe", moe.EventLog, group)
	waitJoined(t, ctx, "bridge", bridge.EventLog, group)

	moe.Client().Disconnect()
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("while away")); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	if moe.Account().QueueLength(0) == 0 {
		t.Fatal("nothing queued for the offline member")
	}
	if err = moe.Client().Connect(); err != nil {
		t.Fatalf("reconnect failed: %v", err)
	}
	waitGroupText(t, ctx, "Moe", moe.EventLog, group, "while away", lou, false)
	waitQueueEmpty(t, ctx, moe.Account(), 0)
	if n := countText(moe.EventLog, "while away"); n != 1 {
		t.Fatalf("queued group message arrived %d times", n)
	}

	// A second send with the same id (a client retrying after a lost ack) is acked, not delivered.
	dupID := bridge.cli.GenerateMessageID()
	for _, text := range []string{"first copy", "second copy"} {
		if _, err = bridge.cli.SendMessage(ctx, group, textMessage(text), whatsmeow.SendRequestExtra{ID: dupID}); err != nil {
			t.Fatalf("send of %q failed: %v", text, err)
		}
	}
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("after the copies")); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Moe", moe.EventLog, group, "after the copies", lou, false)
	if countText(moe.EventLog, "first copy") != 1 || countText(moe.EventLog, "second copy") != 0 {
		t.Fatal("a resend with the same id was delivered again")
	}

	n, err := srv.UpdateGroupParticipants(ctx, lou, group, GroupAdd, nia.Account(), moe.Account())
	if err != nil || n != 1 {
		t.Fatalf("API add changed %d members, %v; want 1 (Moe is already in)", n, err)
	}
	waitJoined(t, ctx, "Nia", nia.EventLog, group)
	waitGroupInfo(t, ctx, "bridge", bridge.EventLog, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Join, nia.LID()) })
	// Moe must know of Nia before he writes, or his message goes out without Nia's sender key and
	// Nia asks for it again with a retry receipt.
	waitGroupInfo(t, ctx, "Moe", moe.EventLog, group, func(gi *events.GroupInfo) bool { return slices.Contains(gi.Join, nia.LID()) })
	if _, err = moe.SendText(ctx, group, "hello Nia"); err != nil {
		t.Fatalf("send failed: %v", err)
	}
	waitGroupText(t, ctx, "Nia", nia.EventLog, group, "hello Nia", moe.Account(), false)
	waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "hello Nia", moe.Account(), false)
	assertNoRetries(t, map[string]*EventLog{"bridge": bridge.EventLog, "Moe": moe.EventLog})
	if _, err = srv.UpdateGroupParticipants(ctx, nia.Account(), group, GroupRemove, moe.Account()); err == nil {
		t.Fatal("a non-admin removed a member through the API")
	}
}
