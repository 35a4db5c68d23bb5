package tests

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

func historyText(text string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(text)} }

func historyKey(chat types.JID, fromMe bool, msgID types.MessageID) *waCommon.MessageKey {
	return &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), FromMe: proto.Bool(fromMe), ID: proto.String(msgID)}
}

// messagesOf returns the room's m.room.message and m.reaction events, oldest first.
func messagesOf(t *testing.T, ctx context.Context, user *loggedInUser, room id.RoomID) []*event.Event {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, user.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	for _, evt := range timeline {
		if evt.Type == event.EventMessage || evt.Type == event.EventReaction {
			out = append(out, evt)
		}
	}
	return out
}

// TestHistoryBackfill: the chat history the phone had before the bridge was linked arrives in new
// portals (a DM and a group), oldest first, with WhatsApp's timestamps and senders, a photo, a
// reply, a reaction and an edit applied, a deleted message left out; the limits on chats and
// messages per chat hold and archived chats get no portal; the management room shows progress and
// a summary; a live message that was also in the history appears once, and later live messages
// come after the history.
func TestHistoryBackfill(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			testHistoryBackfill(t, dialect)
		})
	}
}

func testHistoryBackfill(t *testing.T, dialect testdb.Dialect) {
	env := newWAEnv(t, dialect, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.history_sync.max_chats", 4)
		e2e.SetConfig(cfg, "bridge.history_sync.max_messages_per_chat", 5)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400001", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000401", "Carol")
	dave, daveGhost := newContact(t, ctx, env, "4917600000402", "Dave")
	aliceGhost := ghostOf(env, "4915112400001")
	group, err := env.WA.CreateGroup(ctx, acct, "Book club", carol.Account(), dave.Account())
	if err != nil {
		t.Fatal(err)
	}

	photo := bytes.Repeat([]byte("history photo "), 50)
	photoMsg, err := acct.HistoryMedia(ctx, wasim.Media{Kind: wasim.KindImage, Data: photo, Caption: "sunset"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	dm := carol.JID()
	const (
		helloID   = "3EB0HIST00000001"
		photoID   = "3EB0HIST00000002"
		typoID    = "3EB0HIST00000004"
		deletedID = "3EB0HIST00000006"
		overlapID = "3EB0HIST00000009"
	)
	_, err = acct.AddHistory(
		wasim.HistoryMessage{Chat: dm, ID: helloID, PushName: "Carol", Timestamp: at(0), Message: historyText("hello from last year")},
		wasim.HistoryMessage{Chat: dm, ID: photoID, FromMe: true, Timestamp: at(1), Message: photoMsg},
		wasim.HistoryMessage{Chat: dm, PushName: "Carol", Timestamp: at(2), Message: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("what a view"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(photoID), Participant: proto.String(acct.JID().String())},
		}}},
		wasim.HistoryMessage{Chat: dm, FromMe: true, Timestamp: at(3), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: historyKey(dm, false, helloID), Text: proto.String("❤️"),
		}}},
		wasim.HistoryMessage{Chat: dm, ID: typoID, PushName: "Carol", Timestamp: at(4), Message: historyText("see you tomorow")},
		wasim.HistoryMessage{Chat: dm, PushName: "Carol", Timestamp: at(5), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: historyKey(dm, false, typoID), EditedMessage: historyText("see you tomorrow"),
		}}},
		wasim.HistoryMessage{Chat: dm, ID: deletedID, FromMe: true, Timestamp: at(6), Message: historyText("oops, wrong chat")},
		wasim.HistoryMessage{Chat: dm, FromMe: true, Timestamp: at(7), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: historyKey(dm, true, deletedID),
		}}},
		wasim.HistoryMessage{Chat: group, Sender: dave.JID(), PushName: "Dave", Timestamp: at(8), Message: historyText("chapter 3 tonight?")},
		wasim.HistoryMessage{Chat: dm, ID: overlapID, PushName: "Carol", Timestamp: at(9), Message: historyText("this one also comes live")},
		wasim.HistoryMessage{Chat: group, FromMe: true, Timestamp: at(10), Message: historyText("yes, at 8")},
	)
	if err != nil {
		t.Fatal(err)
	}
	// Three more chats of eight messages, older than the above: the newest two still fit in the
	// limit of four chats and show their last five messages; the oldest one gets no portal.
	bulk, err := acct.SeedHistory(wasim.SeedOptions{Chats: 3, Messages: 8, Span: 24 * time.Hour, End: base.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// An archived chat gets no portal, however recent.
	archived := types.NewJID("4915550990001", types.DefaultUserServer)
	if _, err = acct.AddHistory(wasim.HistoryMessage{Chat: archived, Timestamp: at(11), Message: historyText("archived chatter")}); err != nil {
		t.Fatal(err)
	}
	acct.SetHistoryChat(archived, wasim.HistoryChat{Archived: true})
	// Small chunks, so that the history comes in several chunks.
	acct.SetHistorySyncOptions(wasim.HistorySyncOptions{BootstrapChats: 2, ChunkMessages: 10})

	alice := logInAccount(t, ctx, env, "alice", acct)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your history is here: 4 chats, "))
	if countNotices(t, ctx, env.Env, alice.client, alice.room, "Bringing over your history:") == 0 {
		t.Error("no progress line in the management room")
	}
	summary := env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your history is here"))
	for _, part := range []string{"1 archived chat", "1 chat beyond the 4 most recent",
		"beyond the 5 most recent of their chat (`bridge.history_sync.max_messages_per_chat`)"} {
		if !botNotice(env.Env, part)(summary) {
			t.Errorf("summary %q does not mention %q", summary.Content.AsMessage().Body, part)
		}
	}
	// The progress line was edited to the summary's figures.
	figures := strings.TrimSuffix(strings.SplitN(strings.TrimPrefix(summary.Content.AsMessage().Body, "Your history is here: "), ".", 2)[0], ".")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Bringing over your history: done, "+figures+"."))

	// The DM with Carol: its history in order, at WhatsApp's times, from the right ghosts.
	carolRoom := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, carolRoom, fromGhost(carolGhost, "this one also comes live"))
	msgs := messagesOf(t, ctx, alice, carolRoom)
	type want struct {
		sender id.UserID
		body   string
		at     time.Time
	}
	wants := []want{
		{carolGhost, "hello from last year", at(0)},
		{aliceGhost, "sunset", at(1)},
		{carolGhost, "what a view", at(2)},
		{aliceGhost, "", at(3)}, // the reaction
		{carolGhost, "see you tomorow", at(4)},
		{carolGhost, "* see you tomorrow", at(5)},
		{carolGhost, "this one also comes live", at(9)},
	}
	if len(msgs) != len(wants) {
		for _, m := range msgs {
			t.Logf("%s %s %q", m.Sender, m.Type.Type, m.Content.AsMessage().Body)
		}
		t.Fatalf("Carol's room has %d messages and reactions, want %d", len(msgs), len(wants))
	}
	for i, w := range wants {
		got := msgs[i]
		body := ""
		if got.Type == event.EventMessage {
			body = got.Content.AsMessage().Body
		}
		if got.Sender != w.sender || body != w.body || got.Timestamp != w.at.UnixMilli() {
			t.Errorf("message %d = %s %q at %d, want %s %q at %d", i, got.Sender, body, got.Timestamp, w.sender, w.body, w.at.UnixMilli())
		}
	}
	if img := msgs[1].Content.AsMessage(); img.MsgType != event.MsgImage || !bytes.Equal(downloadEventMedia(t, ctx, alice.client, msgs[1]), photo) {
		t.Errorf("the photo came as %s or with other bytes", img.MsgType)
	}
	if reply := msgs[2].Content.AsMessage(); reply.RelatesTo.GetReplyTo() != msgs[1].ID {
		t.Errorf("the reply points to %s, want the photo %s", reply.RelatesTo.GetReplyTo(), msgs[1].ID)
	}
	if r := msgs[3].Content.AsReaction(); msgs[3].Type != event.EventReaction || r.RelatesTo.EventID != msgs[0].ID || r.RelatesTo.Key != "❤️" {
		t.Errorf("the reaction = %v on %s, want ❤️ on the first message", r.RelatesTo.Key, r.RelatesTo.EventID)
	}
	if edit := msgs[5].Content.AsMessage(); edit.RelatesTo.GetReplaceID() != msgs[4].ID || edit.NewContent.Body != "see you tomorrow" {
		t.Errorf("the edit replaces %s with %q", edit.RelatesTo.GetReplaceID(), edit.NewContent.Body)
	}

	// The group: its own portal with both messages.
	groupRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, carolRoom)
	env.WaitForMessage(ctx, alice.client, groupRoom, fromGhost(aliceGhost, "yes, at 8"))
	gmsgs := messagesOf(t, ctx, alice, groupRoom)
	if len(gmsgs) != 2 || gmsgs[0].Sender != daveGhost || gmsgs[0].Content.AsMessage().Body != "chapter 3 tonight?" ||
		gmsgs[1].Sender != aliceGhost || gmsgs[1].Timestamp != at(10).UnixMilli() {
		t.Errorf("group room has %d messages: %v", len(gmsgs), gmsgs)
	}

	// The two newest bulk chats show their last five messages; the oldest and the archived chat have no room.
	for _, i := range []int{3, 2} {
		ghost := ghostOf(env, bulk[i-1].User)
		room := joinPortal(t, ctx, env, alice.client, ghost)
		env.WaitForMessage(ctx, alice.client, room, fromGhost(ghost, fmt.Sprintf("Message 7 in chat %d", i)))
		bm := messagesOf(t, ctx, alice, room)
		if len(bm) != 5 || bm[0].Content.AsMessage().Body != fmt.Sprintf("Message 4 in chat %d", i) ||
			bm[4].Content.AsMessage().Body != fmt.Sprintf("Message 8 in chat %d", i) {
			t.Errorf("bulk chat %d has %d messages, first %q", i, len(bm), bm[0].Content.AsMessage().Body)
		}
	}
	// The oldest bulk chat and the archived chat got no room: alice has the management room and
	// the four portals. (Dendrite may list a room just joined as invited too: count rooms once.)
	resp, err := alice.client.FullSyncRequest(ctx, mautrix.ReqSync{})
	if err != nil {
		t.Fatal(err)
	}
	rooms := map[id.RoomID]bool{}
	for room := range resp.Rooms.Join {
		rooms[room] = true
	}
	for room := range resp.Rooms.Invite {
		rooms[room] = true
	}
	if len(rooms) != 1+1+1+2 {
		t.Errorf("alice is in %d rooms, want the management room and four portals", len(rooms))
	}
	if name, err := alice.client.GetDisplayName(ctx, carolGhost); err != nil || name.DisplayName != "Carol (WA)" {
		t.Errorf("Carol's ghost is named %v (%v), want her push name from the history", name, err)
	}

	// A message that was in the history arrives live too (same ID): it is not doubled. A new live
	// message comes after the history.
	if _, err = carol.Client().SendMessage(ctx, acct.JID(), historyText("this one also comes live"), whatsmeow.SendRequestExtra{ID: overlapID}); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.SendText(ctx, acct.JID(), "a new message"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, carolRoom, fromGhost(carolGhost, "a new message"))
	if n := countMessages(t, ctx, env, alice, carolRoom, carolGhost, "this one also comes live"); n != 1 {
		t.Errorf("the overlapping message is in the room %d times, want once", n)
	}
	msgs = messagesOf(t, ctx, alice, carolRoom)
	if last := msgs[len(msgs)-1]; last.Content.AsMessage().Body != "a new message" {
		t.Errorf("the last message is %q, want the live one", last.Content.AsMessage().Body)
	}
}

// TestSyncHistoryCommand: `sync-history` in a portal asks the phone for the messages before the
// room's oldest one; they are posted after a notice saying they are earlier, in order with their
// times, and asking again brings the next older ones, then a notice that there are none left.
func TestSyncHistoryCommand(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.history_sync.max_messages_per_chat", 3)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400002", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000411", "Carol")
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var history []wasim.HistoryMessage
	for i := 1; i <= 9; i++ {
		history = append(history, wasim.HistoryMessage{
			Chat: carol.JID(), PushName: "Carol", Timestamp: base.Add(time.Duration(i) * time.Minute), Message: historyText(fmt.Sprintf("old %d", i)),
		})
	}
	if _, err = acct.AddHistory(history...); err != nil {
		t.Fatal(err)
	}
	alice := logInAccount(t, ctx, env, "alice", acct)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your history is here: 1 chat, 3 messages"))
	room := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "old 9"))

	bodies := func() []string {
		var out []string
		for _, evt := range messagesOf(t, ctx, alice, room) {
			if evt.Sender == carolGhost {
				out = append(out, fmt.Sprintf("%s@%d", evt.Content.AsMessage().Body, (evt.Timestamp-base.UnixMilli())/60000))
			}
		}
		return out
	}
	sendText(t, ctx, alice.client, room, "!wa sync-history 4")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Asked your phone for up to 4 earlier messages"))
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Earlier messages of this chat from your phone (4 messages, "))
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "old 6"))
	if got, want := bodies(), []string{"old 7@7", "old 8@8", "old 9@9", "old 3@3", "old 4@4", "old 5@5", "old 6@6"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("room shows %v, want %v", got, want)
	}

	sendText(t, ctx, alice.client, room, "!wa sync-history 5 6")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Usage: `!wa sync-history [count]`"))
	sendText(t, ctx, alice.client, room, "!wa sync-history")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Earlier messages of this chat from your phone (2 messages, "))
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "old 2"))
	if got, want := bodies()[7:], []string{"old 1@1", "old 2@2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("second answer shows %v, want %v", got, want)
	}
	sendText(t, ctx, alice.client, room, "!wa sync-history")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Your phone has no earlier messages of this chat"))
	if n := len(bodies()); n != 9 {
		t.Errorf("room has %d of Carol's messages, want 9", n)
	}
}
