package wasim

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// waitJoined waits for events.JoinedGroup about group on log.
func waitJoined(t *testing.T, ctx context.Context, who string, log *EventLog, group types.JID) *events.JoinedGroup {
	t.Helper()
	evt, err := log.WaitEvent(ctx, func(evt any) bool {
		j, ok := evt.(*events.JoinedGroup)
		return ok && j.JID == group
	})
	if err != nil {
		t.Fatalf("%s did not get JoinedGroup for %s: %v", who, group, err)
	}
	return evt.(*events.JoinedGroup)
}

// waitGroupInfo waits for an events.GroupInfo about group that matches.
func waitGroupInfo(t *testing.T, ctx context.Context, who string, log *EventLog, group types.JID, match func(*events.GroupInfo) bool) *events.GroupInfo {
	t.Helper()
	evt, err := log.WaitEvent(ctx, func(evt any) bool {
		gi, ok := evt.(*events.GroupInfo)
		return ok && gi.JID == group && match(gi)
	})
	if err != nil {
		t.Fatalf("%s did not get the expected GroupInfo for %s: %v", who, group, err)
	}
	return evt.(*events.GroupInfo)
}

// waitGroupText waits for a content message with text in group and checks who sent it.
func waitGroupText(t *testing.T, ctx context.Context, who string, log *EventLog, group types.JID, text string, sender *Account, fromMe bool) *events.Message {
	t.Helper()
	msg, err := log.WaitMessage(ctx, textIs(text))
	if err != nil {
		t.Fatalf("%s did not get %q: %v", who, text, err)
	}
	if msg.Info.Chat != group || !msg.Info.IsGroup {
		t.Fatalf("%s got %q in chat %s, want group %s", who, text, msg.Info.Chat, group)
	}
	if msg.Info.Sender.User != sender.LID().User || msg.Info.IsFromMe != fromMe {
		t.Fatalf("%s got %q from %s (IsFromMe %v), want %s (IsFromMe %v)", who, text, msg.Info.Sender, msg.Info.IsFromMe, sender.LID(), fromMe)
	}
	return msg
}

// assertNoRetries fails if any of the senders got a retry receipt: with correct routing every
// member decrypts on the first try.
func assertNoRetries(t *testing.T, senders map[string]*EventLog) {
	t.Helper()
	for who, log := range senders {
		if n := log.Count(func(evt any) bool {
			r, ok := evt.(*events.Receipt)
			return ok && r.Type == types.ReceiptTypeRetry
		}); n != 0 {
			t.Fatalf("%s got %d retry receipts", who, n)
		}
	}
}

func participantByLID(info *types.GroupInfo, acct *Account) *types.GroupParticipant {
	for i := range info.Participants {
		if info.Participants[i].LID.User == acct.LID().User {
			return &info.Participants[i]
		}
	}
	return nil
}

func TestGroupCreateByClientAndInfo(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	ana := newAccount(t, ctx, srv, "Ana")
	ben := newContact(t, ctx, srv, "Ben")
	cleo := newContact(t, ctx, srv, "Cleo")
	stranger := newContact(t, ctx, srv, "Stranger")
	bridge := pairByQR(t, ctx, srv, ana)

	info, err := bridge.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{
		Name: "Planning", Participants: []types.JID{ben.JID(), cleo.JID()},
	})
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	if info.JID.Server != types.GroupServer || info.Name != "Planning" || len(info.Participants) != 3 {
		t.Fatalf("CreateGroup returned %s %q with %d participants", info.JID, info.Name, len(info.Participants))
	}
	for who, log := range map[string]*EventLog{"Ben": ben.EventLog, "Cleo": cleo.EventLog, "Ana's phone": ana.Phone().EventLog} {
		joined := waitJoined(t, ctx, who, log, info.JID)
		if joined.Name != "Planning" || len(joined.Participants) != 3 || joined.Sender == nil || joined.Sender.User != ana.LID().User {
			t.Fatalf("%s: JoinedGroup name %q, %d participants, sender %v", who, joined.Name, len(joined.Participants), joined.Sender)
		}
	}

	got, err := ben.Client().GetGroupInfo(ctx, info.JID)
	if err != nil {
		t.Fatalf("GetGroupInfo failed: %v", err)
	}
	if got.Name != "Planning" || got.NameSetBy.User != ana.LID().User || got.OwnerJID.User != ana.LID().User || got.GroupCreated.IsZero() {
		t.Fatalf("group info: name %q set by %s, owner %s, created %v", got.Name, got.NameSetBy, got.OwnerJID, got.GroupCreated)
	}
	for _, acct := range []*Account{ana, ben.Account(), cleo.Account()} {
		p := participantByLID(got, acct)
		if p == nil {
			t.Fatalf("%s missing from participants %+v", acct.PushName(), got.Participants)
		}
		if p.PhoneNumber != acct.JID() || p.LID != acct.LID() {
			t.Fatalf("%s: participant PN %s LID %s, want %s %s", acct.PushName(), p.PhoneNumber, p.LID, acct.JID(), acct.LID())
		}
		wantAdmin := acct == ana
		if p.IsAdmin != wantAdmin || p.IsSuperAdmin != wantAdmin {
			t.Fatalf("%s: admin %v superadmin %v, want %v", acct.PushName(), p.IsAdmin, p.IsSuperAdmin, wantAdmin)
		}
	}

	joined, err := cleo.Client().GetJoinedGroups(ctx)
	if err != nil {
		t.Fatalf("GetJoinedGroups failed: %v", err)
	}
	if len(joined) != 1 || joined[0].JID != info.JID || len(joined[0].Participants) != 3 {
		t.Fatalf("GetJoinedGroups = %d groups, want the one group with 3 members", len(joined))
	}
	none, err := stranger.Client().GetJoinedGroups(ctx)
	if err != nil || len(none) != 0 {
		t.Fatalf("stranger's GetJoinedGroups = %d groups, %v", len(none), err)
	}
	if _, err = stranger.Client().GetGroupInfo(ctx, info.JID); !errors.Is(err, whatsmeow.ErrNotInGroup) {
		t.Fatalf("stranger's GetGroupInfo error = %v, want ErrNotInGroup", err)
	}
	missing := types.NewJID("120363000000000001", types.GroupServer)
	if _, err = ben.Client().GetGroupInfo(ctx, missing); !errors.Is(err, whatsmeow.ErrGroupNotFound) {
		t.Fatalf("unknown group error = %v, want ErrGroupNotFound", err)
	}
	if _, err = stranger.SendText(ctx, info.JID, "let me in"); err == nil {
		t.Fatal("a non-member could send to the group")
	}
}

// Three accounts, one of which (Dora) also has a companion: texts go both ways, the companion
// sees its phone's messages as its own, and receipts and typing reach the sender.
func TestGroupMessagingWithCompanion(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	fay := newContact(t, ctx, srv, "Fay")
	bridge := pairByQR(t, ctx, srv, dora)
	phone := dora.Phone()

	group, err := srv.CreateGroup(ctx, dora, "Trio", emil.Account(), fay.Account())
	if err != nil {
		t.Fatalf("CreateGroup failed: %v", err)
	}
	for who, log := range map[string]*EventLog{"bridge": bridge.EventLog, "phone": phone.EventLog, "Emil": emil.EventLog, "Fay": fay.EventLog} {
		waitJoined(t, ctx, who, log, group)
	}

	id, err := bridge.cli.SendMessage(ctx, group, textMessage("from the bridge"))
	if err != nil {
		t.Fatalf("bridge send failed: %v", err)
	}
	waitGroupText(t, ctx, "Emil", emil.EventLog, group, "from the bridge", dora, false)
	waitGroupText(t, ctx, "Fay", fay.EventLog, group, "from the bridge", dora, false)
	waitGroupText(t, ctx, "Dora's phone", phone.EventLog, group, "from the bridge", dora, true)
	if _, err = bridge.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Chat == group && r.Sender.User == emil.LID().User && len(r.MessageIDs) > 0 && r.MessageIDs[0] == id.ID &&
			(r.Type == types.ReceiptTypeDelivered || r.Type == types.ReceiptTypeInactive)
	}); err != nil {
		t.Fatalf("bridge got no delivery receipt from Emil: %v", err)
	}

	if _, err = emil.SendText(ctx, group, "from Emil"); err != nil {
		t.Fatalf("Emil's send failed: %v", err)
	}
	msg := waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "from Emil", emil.Account(), false)
	if msg.Info.SenderAlt != emil.JID() || msg.Info.PushName != "Emil" {
		t.Fatalf("bridge saw sender PN %s and push name %q", msg.Info.SenderAlt, msg.Info.PushName)
	}
	waitGroupText(t, ctx, "Fay", fay.EventLog, group, "from Emil", emil.Account(), false)
	waitGroupText(t, ctx, "Dora's phone", phone.EventLog, group, "from Emil", emil.Account(), false)

	if _, err = phone.SendText(ctx, group, "from Dora's phone"); err != nil {
		t.Fatalf("phone send failed: %v", err)
	}
	waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "from Dora's phone", dora, true)
	waitGroupText(t, ctx, "Fay", fay.EventLog, group, "from Dora's phone", dora, false)

	// Read receipt and typing from Fay reach the bridge.
	seen, err := fay.WaitMessage(ctx, textIs("from the bridge"))
	if err != nil {
		t.Fatal(err)
	}
	if err = fay.Client().MarkRead(ctx, []types.MessageID{id.ID}, seen.Info.Timestamp, group, seen.Info.Sender); err != nil {
		t.Fatalf("MarkRead failed: %v", err)
	}
	if _, err = bridge.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && r.Chat == group && r.Sender.User == fay.LID().User && len(r.MessageIDs) > 0 && r.MessageIDs[0] == id.ID
	}); err != nil {
		t.Fatalf("bridge got no read receipt: %v", err)
	}
	setAvailable(t, ctx, fay)
	bridge.announceAvailable(t, ctx, dora)
	if err = fay.Client().SendChatPresence(ctx, group, types.ChatPresenceComposing, ""); err != nil {
		t.Fatalf("SendChatPresence failed: %v", err)
	}
	if _, err = bridge.WaitEvent(ctx, func(evt any) bool {
		cp, ok := evt.(*events.ChatPresence)
		return ok && cp.Chat == group && cp.Sender.User == fay.LID().User && cp.State == types.ChatPresenceComposing
	}); err != nil {
		t.Fatalf("bridge saw no typing in the group: %v", err)
	}
	for who, log := range map[string]*EventLog{"Emil": emil.EventLog, "Fay": fay.EventLog, "phone": phone.EventLog} {
		if n := countText(log, "from the bridge"); n != 1 {
			t.Fatalf("%s got the bridge's message %d times", who, n)
		}
	}
	assertNoRetries(t, map[string]*EventLog{"bridge": bridge.EventLog, "Emil": emil.EventLog, "phone": phone.EventLog})
}
