package wasim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// waitHistoryDone waits for the history sync chunk that says 100 % and returns every chunk the
// companion got, in the order they came.
func waitHistoryDone(t *testing.T, ctx context.Context, c *companion) []*waHistorySync.HistorySync {
	t.Helper()
	waitFor(t, ctx, c.EventLog, "last history sync chunk", func(evt *events.HistorySync) bool {
		return evt.Data.GetProgress() == 100
	})
	var chunks []*waHistorySync.HistorySync
	for _, evt := range c.All() {
		if hs, ok := evt.(*events.HistorySync); ok {
			chunks = append(chunks, hs.Data)
		}
	}
	return chunks
}

// historyByID collects every message of every chunk by ID, with the chat it was filed under.
func historyByID(chunks []*waHistorySync.HistorySync) (map[string]*waWeb.WebMessageInfo, map[string]string) {
	msgs := map[string]*waWeb.WebMessageInfo{}
	chats := map[string]string{}
	for _, hs := range chunks {
		for _, conv := range hs.GetConversations() {
			for _, m := range conv.GetMessages() {
				msgs[m.GetMessage().GetKey().GetID()] = m.GetMessage()
				chats[m.GetMessage().GetKey().GetID()] = conv.GetID()
			}
		}
	}
	return msgs, chats
}

func TestPhoneSendsSeededHistoryAfterLink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "History Owner")
	friend := newAccount(t, ctx, srv, "Friend")
	other := newAccount(t, ctx, srv, "Other")
	group, err := srv.CreateGroup(ctx, acct, "Old Friends", friend, other)
	if err != nil {
		t.Fatalf("failed to create group: %v", err)
	}
	// A message the phone received live, before any companion existed, is history too.
	liveID, err := friend.Phone().SendText(ctx, acct.JID(), "sent while nothing was linked")
	if err != nil {
		t.Fatalf("failed to send live message: %v", err)
	}
	waitFor(t, ctx, acct.Phone().EventLog, "live message on the phone", textIs("sent while nothing was linked"))

	photo, err := acct.HistoryMedia(ctx, Media{Kind: KindImage, Data: bytes.Repeat([]byte{0xFF, 0xD8}, 100), Caption: "the beach"})
	if err != nil {
		t.Fatalf("failed to upload history photo: %v", err)
	}
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	dm := friend.JID()
	ids, err := acct.AddHistory(
		HistoryMessage{Chat: dm, PushName: "Friend", Timestamp: base, Message: textMessage("hello from the past")},
		HistoryMessage{Chat: dm, FromMe: true, Timestamp: base.Add(time.Minute), Status: waWeb.WebMessageInfo_DELIVERY_ACK, Message: photo},
	)
	if err != nil {
		t.Fatalf("failed to add history: %v", err)
	}
	hello, photoID := ids[0], ids[1]
	reply := &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text:        proto.String("nice photo"),
		ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(photoID), Participant: proto.String(acct.JID().String())},
	}}
	ids, err = acct.AddHistory(
		HistoryMessage{Chat: dm, PushName: "Friend", Timestamp: base.Add(2 * time.Minute), Message: reply},
		HistoryMessage{Chat: dm, FromMe: true, Timestamp: base.Add(3 * time.Minute), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{RemoteJID: proto.String(dm.String()), FromMe: proto.Bool(false), ID: proto.String(hello)}, Text: proto.String("👍"),
		}}},
		HistoryMessage{Chat: dm, FromMe: true, Timestamp: base.Add(4 * time.Minute), Message: textMessage("typo messgae")},
		HistoryMessage{Chat: group, Sender: other.JID(), PushName: "Other", Timestamp: base.Add(5 * time.Minute), Message: textMessage("group hello")},
		HistoryMessage{Chat: group, Sender: other.JID(), PushName: "Other", Timestamp: base.Add(6 * time.Minute), Message: textMessage("regret this")},
	)
	if err != nil {
		t.Fatalf("failed to add history: %v", err)
	}
	replyID, typo, regret := ids[0], ids[2], ids[4]
	ids, err = acct.AddHistory(
		HistoryMessage{Chat: dm, FromMe: true, Timestamp: base.Add(5 * time.Minute), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: &waCommon.MessageKey{RemoteJID: proto.String(dm.String()), FromMe: proto.Bool(true), ID: proto.String(typo)},
			EditedMessage: textMessage("typo message"),
		}}},
		HistoryMessage{Chat: group, Sender: other.JID(), Timestamp: base.Add(7 * time.Minute), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{RemoteJID: proto.String(group.String()), ID: proto.String(regret)},
		}}},
	)
	if err != nil {
		t.Fatalf("failed to add history: %v", err)
	}
	editID := ids[0]
	acct.SetHistoryChat(group, HistoryChat{Name: "Old Friends", Archived: true, UnreadCount: 2})
	// Bulk history: 3 chats of 30 messages over 200 days, so some is older than the recent window.
	bulk, err := acct.SeedHistory(SeedOptions{Chats: 3, Messages: 30, Span: 200 * 24 * time.Hour, End: base.Add(-time.Hour)})
	if err != nil {
		t.Fatalf("failed to seed history: %v", err)
	}
	acct.SetHistorySyncOptions(HistorySyncOptions{BootstrapChats: 3, BootstrapMessages: 4, ChunkMessages: 20})

	c := pairByQR(t, ctx, srv, acct)
	chunks := waitHistoryDone(t, ctx, c)

	kinds := map[waHistorySync.HistorySync_HistorySyncType]int{}
	for _, hs := range chunks {
		kinds[hs.GetSyncType()]++
	}
	if kinds[waHistorySync.HistorySync_PUSH_NAME] != 1 || kinds[waHistorySync.HistorySync_INITIAL_BOOTSTRAP] != 1 ||
		kinds[waHistorySync.HistorySync_RECENT] == 0 || kinds[waHistorySync.HistorySync_FULL] == 0 {
		t.Fatalf("chunk types = %v, want one push name chunk, one bootstrap, and recent and full chunks", kinds)
	}
	if chunks[1].GetSyncType() != waHistorySync.HistorySync_INITIAL_BOOTSTRAP {
		t.Errorf("second chunk is %s, want the bootstrap", chunks[1].GetSyncType())
	}
	// The bootstrap has the three most recent chats: the group, the DM with Friend (newest), one bulk chat.
	var bootChats []string
	for _, conv := range chunks[1].GetConversations() {
		bootChats = append(bootChats, conv.GetID())
		if conv.GetID() == group.String() && (!conv.GetArchived() || conv.GetName() != "Old Friends" || conv.GetUnreadCount() != 2) {
			t.Errorf("group metadata = archived %v, name %q, unread %d", conv.GetArchived(), conv.GetName(), conv.GetUnreadCount())
		}
	}
	if len(bootChats) != 3 || bootChats[0] != dm.String() || bootChats[1] != group.String() {
		t.Errorf("bootstrap chats = %v, want the DM, the group, then a bulk chat", bootChats)
	}
	names := map[string]string{}
	for _, pn := range chunks[0].GetPushnames() {
		names[pn.GetID()] = pn.GetPushname()
	}
	if names[other.JID().String()] != "Other" || names[dm.String()] != "Friend" {
		t.Errorf("push names = %v", names)
	}

	msgs, chats := historyByID(chunks)
	if got := msgs[hello]; got.GetMessage().GetConversation() != "hello from the past" || got.GetMessageTimestamp() != uint64(base.Unix()) ||
		got.GetKey().GetFromMe() || len(got.GetReactions()) != 1 || got.GetReactions()[0].GetText() != "👍" {
		t.Errorf("first message = %v", got)
	}
	if got := msgs[photoID]; got.GetMessage().GetImageMessage().GetCaption() != "the beach" || !got.GetKey().GetFromMe() ||
		got.GetStatus() != waWeb.WebMessageInfo_DELIVERY_ACK {
		t.Errorf("photo = %v", got)
	} else if data, err := c.cli.Download(ctx, got.GetMessage().GetImageMessage()); err != nil || len(data) != 200 {
		t.Errorf("photo download: %d bytes, %v", len(data), err)
	}
	if got := msgs[replyID]; got.GetMessage().GetExtendedTextMessage().GetContextInfo().GetStanzaID() != photoID {
		t.Errorf("reply = %v", got)
	}
	if got := msgs[regret]; got.GetMessage() != nil || got.GetMessageStubType() != waWeb.WebMessageInfo_REVOKE || got.GetKey().GetParticipant() != other.JID().String() {
		t.Errorf("revoked message = %v", got)
	}
	if got := msgs[editID]; got.GetMessage().GetProtocolMessage().GetEditedMessage().GetConversation() != "typo message" {
		t.Errorf("edit = %v", got)
	}
	if got := msgs[liveID]; got.GetMessage().GetConversation() != "sent while nothing was linked" || chats[liveID] != dm.String() {
		t.Errorf("live message = %v in chat %s", got, chats[liveID])
	}
	// whatsmeow parses every message as the bridge will: the edit stands for its target.
	parsed, err := c.cli.ParseWebMessage(types.EmptyJID, msgs[editID])
	if err != nil || parsed.Info.ID != typo || parsed.Message.GetConversation() != "typo message" {
		t.Errorf("parsed edit = %v, %v", parsed, err)
	}
	count := 0
	for id, chat := range chats {
		if chat == bulk[1].String() {
			count++
			if msgs[id].GetMessage().GetConversation() == "" {
				t.Errorf("bulk message %s has no text", id)
			}
		}
	}
	if count != 30 {
		t.Errorf("bulk chat 2 has %d messages over all chunks, want 30", count)
	}
	// The phone recorded what it sent.
	sent := acct.Phone().Count(isType[*HistorySyncSent])
	if sent != len(chunks) {
		t.Errorf("phone recorded %d chunks, companion got %d", sent, len(chunks))
	}
}

func TestPhoneSendsNoHistoryWhenDisabled(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Private")
	if _, err := acct.SeedHistory(SeedOptions{Chats: 1, Messages: 2}); err != nil {
		t.Fatal(err)
	}
	acct.SetHistorySyncOptions(HistorySyncOptions{Disabled: true})
	c := pairByQR(t, ctx, srv, acct)
	// The key share comes before history would; a marker message after the link arrives after it.
	friend := newAccount(t, ctx, srv, "Friend")
	if _, err := friend.Phone().SendText(ctx, acct.JID(), "marker"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c.EventLog, "marker", textIs("marker"))
	if n := c.Count(isType[*events.HistorySync]); n != 0 {
		t.Errorf("companion got %d history sync chunks, want none", n)
	}
}

func TestControlAPIHistory(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	api := newControlClient(t, srv)
	acct := newAccount(t, ctx, srv, "Seeded")
	phone := acct.JID().User
	api.expect(http.StatusBadRequest, "at least one chat", "POST", "/_wasim/accounts/"+phone+"/history/seed", `{"chats": 0}`, nil)
	api.expect(http.StatusBadRequest, "no timestamp", "POST", "/_wasim/accounts/"+phone+"/history",
		`{"messages": [{"chat": "4915550999", "text": "when?"}]}`, nil)
	api.expect(http.StatusNotFound, "", "POST", "/_wasim/accounts/1234/history/seed", `{"chats": 1, "messages": 1}`, nil)

	var seeded struct{ Chats []string }
	api.expect(http.StatusOK, "", "POST", "/_wasim/accounts/"+phone+"/history/seed", `{"chats": 2, "messages": 3, "days": 2}`, &seeded)
	if len(seeded.Chats) != 2 {
		t.Fatalf("seeded chats = %v", seeded.Chats)
	}
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	var added struct{ IDs []string }
	api.expect(http.StatusOK, "", "POST", "/_wasim/accounts/"+phone+"/history", mustJSON(map[string]any{"messages": []map[string]any{
		{"id": "3EB0AAAA", "chat": "4915550999", "text": "original", "timestamp": ts},
		{"chat": "4915550999", "from_me": true, "reply_to": "3EB0AAAA", "text": "answer", "timestamp": ts},
		{"chat": "4915550999", "from_me": true, "react_to": "3EB0AAAA", "reaction": "❤️", "timestamp": ts},
	}}), &added)
	api.expect(http.StatusOK, "", "POST", "/_wasim/accounts/"+phone+"/history/chats", `{"chat": "4915550999", "archived": true}`, nil)

	c := pairByQR(t, ctx, srv, acct)
	msgs, chats := historyByID(waitHistoryDone(t, ctx, c))
	if len(msgs) != 2*3+2 {
		t.Errorf("history has %d messages, want 8", len(msgs))
	}
	orig := msgs["3EB0AAAA"]
	if orig.GetMessage().GetConversation() != "original" || len(orig.GetReactions()) != 1 || chats["3EB0AAAA"] != "4915550999@s.whatsapp.net" {
		t.Errorf("original = %v", orig)
	}
	if reply := msgs[added.IDs[1]]; reply.GetMessage().GetExtendedTextMessage().GetContextInfo().GetStanzaID() != "3EB0AAAA" {
		t.Errorf("reply = %v", reply)
	}
}

func TestPhoneAnswersHistoryRequest(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Asker")
	chats, err := acct.SeedHistory(SeedOptions{Chats: 1, Messages: 10})
	if err != nil {
		t.Fatal(err)
	}
	c := pairByQR(t, ctx, srv, acct)
	msgs, _ := historyByID(waitHistoryDone(t, ctx, c))
	var seventh *waWeb.WebMessageInfo
	for _, m := range msgs {
		if m.GetMessage().GetConversation() == "Message 7 in chat 1" {
			seventh = m
		}
	}
	if seventh == nil {
		t.Fatal("message 7 is not in the history")
	}
	anchor, err := c.cli.ParseWebMessage(chats[0], seventh)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.cli.SendPeerMessage(ctx, c.cli.BuildHistorySyncRequest(&anchor.Info, 4))
	if err != nil {
		t.Fatalf("failed to send history request: %v", err)
	}
	evt := waitFor(t, ctx, c.EventLog, "on-demand history", func(evt *events.HistorySync) bool {
		return evt.Data.GetSyncType() == waHistorySync.HistorySync_ON_DEMAND
	})
	if evt.Notification.GetPeerDataRequestSessionID() != resp.ID {
		t.Errorf("answer names request %q, want %q", evt.Notification.GetPeerDataRequestSessionID(), resp.ID)
	}
	var got []string
	for _, conv := range evt.Data.GetConversations() {
		for _, m := range conv.GetMessages() {
			got = append(got, m.GetMessage().GetMessage().GetConversation())
		}
	}
	want := []string{"Message 6 in chat 1", "Message 5 in chat 1", "Message 4 in chat 1", "Message 3 in chat 1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("on-demand history = %q, want %q (newest first)", got, want)
	}
}

// TestPhoneHoldsLastHistoryChunk: with HoldLast the companion gets every chunk but the last; the
// last (progress 100) comes once SendHeldHistory is called, and only once.
func TestPhoneHoldsLastHistoryChunk(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Holder")
	if _, err := acct.SeedHistory(SeedOptions{Chats: 3, Messages: 4}); err != nil {
		t.Fatal(err)
	}
	acct.SetHistorySyncOptions(HistorySyncOptions{BootstrapChats: 1, ChunkMessages: 4, HoldLast: true})
	if err := acct.SendHeldHistory(ctx); !errors.Is(err, ErrNoHeldHistory) {
		t.Errorf("before a link: err = %v, want ErrNoHeldHistory", err)
	}
	c := pairByQR(t, ctx, srv, acct)
	isRecent := func(evt *HistorySyncSent) bool { return evt.SyncType == waHistorySync.HistorySync_RECENT }
	// Two chats of four messages after the bootstrap: two RECENT chunks, the second held back.
	waitFor(t, ctx, acct.Phone().EventLog, "first RECENT chunk sent", isRecent)
	if err := acct.SendHeldHistory(ctx); err != nil {
		t.Fatal(err)
	}
	chunks := waitHistoryDone(t, ctx, c)
	last := chunks[len(chunks)-1]
	if last.GetSyncType() != waHistorySync.HistorySync_RECENT || len(last.GetConversations()) != 1 {
		t.Errorf("last chunk is %s with %d chats, want RECENT with one", last.GetSyncType(), len(last.GetConversations()))
	}
	for _, hs := range chunks[:len(chunks)-1] {
		if hs.GetProgress() == 100 {
			t.Errorf("a %s chunk before the held one says progress 100", hs.GetSyncType())
		}
	}
	if err := acct.SendHeldHistory(ctx); !errors.Is(err, ErrNoHeldHistory) {
		t.Errorf("second SendHeldHistory: err = %v, want ErrNoHeldHistory", err)
	}
}
