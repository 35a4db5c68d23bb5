package tests

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	waEvents "go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/chatexport"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/exportgen"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// uploadFile uploads data as a file and posts it to room as an m.file named name.
func uploadFile(t testing.TB, ctx context.Context, client *mautrix.Client, room id.RoomID, name, mimeType string, data []byte) id.EventID {
	t.Helper()
	up, err := client.UploadBytes(ctx, data, mimeType)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgFile, Body: name, FileName: name, URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: mimeType, Size: len(data)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.EventID
}

// replyText sends text as a reply to target.
func replyText(t testing.TB, ctx context.Context, client *mautrix.Client, room id.RoomID, target id.EventID, text string) {
	t.Helper()
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: text}
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(target)
	if _, err := client.SendMessageEvent(ctx, room, event.EventMessage, content); err != nil {
		t.Fatal(err)
	}
}

// importChat is a made-up DM between Alice (the user) and Carol as an export has it.
func importChat(base time.Time) []exportgen.Message {
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	return []exportgen.Message{
		{Time: at(0), Kind: chatexport.KindSystem, Text: "Messages and calls are end-to-end encrypted."},
		{Time: at(1), Sender: "Carol", Text: "hi Alice, long time"},
		{Time: at(2), Sender: "Alice", Text: "two lines:\nthe second"},
		{Time: at(3), Sender: "Carol", Kind: chatexport.KindMedia, Attachment: "IMG-20240105-WA0001.jpg", Text: "the lake"},
		{Time: at(4), Sender: "Alice", Kind: chatexport.KindMedia, Attachment: "IMG-20240105-WA0002.jpg"},
		{Time: at(5), Sender: "Carol", Kind: chatexport.KindDeleted},
		{Time: at(6), Sender: "Carol", Text: "see you"},
	}
}

// TestImportChatExport: a chat export uploaded to a new DM portal is not sent to WhatsApp; `import`
// posts its messages in order, with the export's times, from Carol's and the user's own ghosts,
// the photo the archive holds, and notices for system lines; the summary counts messages, media,
// the file the archive lacks and the line it did not understand. Importing the same archive again
// (replying `import` to it) adds nothing. A longer export of the same chat imported from the
// management room after a live message goes to a linked history room, with only the new message.
func TestImportChatExport(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.import.time_zone", "UTC")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400101", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000501", "Carol")
	aliceGhost := ghostOf(env, "4915112400101")
	alice := logInAccount(t, ctx, env, "alice", acct)
	sendText(t, ctx, alice.client, alice.room, "pm +4917600000501")
	room := joinPortal(t, ctx, env, alice.client, carolGhost)

	base := time.Date(2024, time.January, 5, 18, 30, 0, 0, time.UTC)
	msgs := importChat(base)
	style := exportgen.StyleNamed("android-uk")
	photo := bytes.Repeat([]byte("lake photo "), 200)
	text := "exported on a phone\n" + exportgen.Text(style, "Carol", msgs, true)
	archive := exportgen.Zip(style, "Carol", text, map[string][]byte{"IMG-20240105-WA0001.jpg": photo})
	const fileName = "WhatsApp Chat with Carol.zip"
	upload := uploadFile(t, ctx, alice.client, room, fileName, "application/zip", archive)
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "looks like a WhatsApp chat export, so it was not sent"))

	sendText(t, ctx, alice.client, room, "!wa import")
	summary := env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Imported "+fileName))
	for _, part := range []string{"(Android, day/month, 24-hour) into this room: 7 messages, 1 with its file.",
		"1 file named in the chat but not in the archive", "1 line was not understood", "line 1: `exported on a phone`"} {
		if !strings.Contains(summary.Content.AsMessage().Body, part) {
			t.Errorf("summary %q lacks %q", summary.Content.AsMessage().Body, part)
		}
	}
	if countNotices(t, ctx, env.Env, alice.client, room, "Importing "+fileName+": 0 of 7 messages.") != 1 {
		t.Error("no progress line before the summary")
	}
	type want struct {
		sender id.UserID
		body   string
		minute int
	}
	wants := []want{
		{env.BotMXID(), "Messages and calls are end-to-end encrypted.", 0},
		{carolGhost, "hi Alice, long time", 1},
		{aliceGhost, "two lines:\nthe second", 2},
		{carolGhost, "the lake", 3},
		{aliceGhost, "(IMG-20240105-WA0002.jpg is not in the archive.)", 4},
		{carolGhost, "This message was deleted.", 5},
		{carolGhost, "see you", 6},
	}
	imported := func(room id.RoomID) []*event.Event {
		var out []*event.Event
		for _, evt := range messagesOf(t, ctx, alice, room) {
			if evt.Timestamp < base.UnixMilli()+int64(time.Hour/time.Millisecond) {
				out = append(out, evt)
			}
		}
		return out
	}
	got := imported(room)
	if len(got) != len(wants) {
		for _, evt := range got {
			t.Logf("%s %q", evt.Sender, evt.Content.AsMessage().Body)
		}
		t.Fatalf("room has %d imported messages, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		at := base.Add(time.Duration(w.minute) * time.Minute).UnixMilli()
		if got[i].Sender != w.sender || got[i].Content.AsMessage().Body != w.body || got[i].Timestamp != at {
			t.Errorf("message %d = %s %q at %d, want %s %q at %d", i, got[i].Sender, got[i].Content.AsMessage().Body, got[i].Timestamp, w.sender, w.body, at)
		}
	}
	if img := got[3].Content.AsMessage(); img.MsgType != event.MsgImage || img.FileName != "IMG-20240105-WA0001.jpg" ||
		!bytes.Equal(downloadEventMedia(t, ctx, alice.client, got[3]), photo) {
		t.Errorf("the photo came as %s %q or with other bytes", img.MsgType, img.FileName)
	}
	if got[0].Content.AsMessage().MsgType != event.MsgNotice {
		t.Errorf("the system line is a %s, want a notice", got[0].Content.AsMessage().MsgType)
	}
	// A message from Matrix after the upload reaches Carol, and nothing before it did.
	sendText(t, ctx, alice.client, room, "sent after the upload")
	waitWAText(t, ctx, carol, "sent after the upload")
	if n := carol.Count(func(evt any) bool {
		msg, ok := evt.(*waEvents.Message)
		return ok && wasim.MessageText(msg) != "sent after the upload"
	}); n != 0 {
		t.Errorf("Carol received %d other messages: the export was sent to WhatsApp", n)
	}

	// The same archive again: nothing new.
	replyText(t, ctx, alice.client, room, upload, "!wa import")
	env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "Nothing new in "+fileName+": all 7 messages were imported before."))
	if n := len(imported(room)); n != len(wants) {
		t.Errorf("room has %d imported messages after the second import, want %d", n, len(wants))
	}

	// A live message, then a longer export of the same chat (as .txt, from the management room):
	// only its new message is posted, into a linked history room.
	if _, err = carol.SendText(ctx, acct.JID(), "live now"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "live now"))
	longer := append(msgs, exportgen.Message{Time: base.Add(7 * time.Minute), Sender: "Carol", Text: "one more from the phone"})
	uploadFile(t, ctx, alice.client, alice.room, "WhatsApp Chat with Carol.txt", "text/plain", []byte(exportgen.Text(style, "Carol", longer, true)))
	sendText(t, ctx, alice.client, alice.room, "import +4917600000501")
	summary = env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Imported WhatsApp Chat with Carol.txt"))
	if body := summary.Content.AsMessage().Body; !strings.Contains(body, "history room") || !strings.Contains(body, ": 1 message.") ||
		!strings.Contains(body, "7 were there from an earlier import") {
		t.Errorf("summary of the longer export: %q", body)
	}
	link := env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "History imported from a chat export is in"))
	historyRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, room)
	env.WaitForMessage(ctx, alice.client, historyRoom, fromGhost(carolGhost, "one more from the phone"))
	if hist := imported(historyRoom); len(hist) != 1 {
		t.Errorf("history room has %d imported messages, want 1", len(hist))
	}
	if !strings.Contains(link.Content.AsMessage().Body, historyRoom.String()) {
		t.Errorf("the portal's link %q does not name the history room %s", link.Content.AsMessage().Body, historyRoom)
	}
	// Named after the chat's current name (Carol wrote since the room was made), although the
	// import named the chat by its number.
	var name event.RoomNameEventContent
	if err = alice.client.StateEvent(ctx, historyRoom, event.StateRoomName, "", &name); err != nil || name.Name != "Carol (WhatsApp history)" {
		t.Errorf("history room is named %q (%v), want %q", name.Name, err, "Carol (WhatsApp history)")
	}
	if n := len(imported(room)); n != len(wants) {
		t.Errorf("portal room has %d imported messages after the longer import, want %d", n, len(wants))
	}
}

// TestImportRefusesBadArchives: a damaged .zip, a text that is no chat export, a file over
// bridge.import.max_archive_mb and a zip bomb over max_unpacked_mb are refused with a reason each,
// and no portal room is created for the chat they named.
func TestImportRefusesBadArchives(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.import.max_archive_mb", 1)
		e2e.SetConfig(cfg, "bridge.import.max_unpacked_mb", 8)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400102", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	newContact(t, ctx, env, "4917600000502", "Carol")
	alice := logInAccount(t, ctx, env, "alice", acct)
	style := exportgen.StyleNamed("ios-de")
	text := exportgen.Text(style, "Carol", importChat(time.Date(2024, 1, 5, 18, 30, 0, 0, time.UTC)), true)
	good := exportgen.Zip(style, "Carol", text, map[string][]byte{"IMG-20240105-WA0001.jpg": bytes.Repeat([]byte{7}, 20_000)})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"WhatsApp Chat - Carol.zip", exportgen.Truncated(good), "the archive is damaged"},
		{"WhatsApp Chat - Dave.txt", []byte("Dear diary,\nnothing happened today.\n"), "not a WhatsApp chat export"},
		{"WhatsApp Chat - Fay.txt", []byte("\r\n\n"), "nothing was posted: the file is empty."},
		{"WhatsApp Chat - Eve.txt", bytes.Repeat([]byte("a line of text\n"), 80_000), "larger than the 1.0 MiB the bridge accepts"},
		{"WhatsApp Chat - Bomb.zip", exportgen.Bomb(style, text, 64<<20), "the archive is too large: it unpacks to 64.0 MiB"},
	}
	for _, tt := range tests {
		uploadFile(t, ctx, alice.client, alice.room, tt.name, "application/octet-stream", tt.data)
		sendText(t, ctx, alice.client, alice.room, "import +4917600000502")
		env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, tt.name+" was not imported", tt.want))
	}
	resp, err := alice.client.FullSyncRequest(ctx, mautrix.ReqSync{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Rooms.Join) + len(resp.Rooms.Invite); n != 1 {
		t.Errorf("alice is in %d rooms after the refused imports, want only the management room", n)
	}
	if c := countNotices(t, ctx, env.Env, alice.client, alice.room, "Imported "); c != 0 {
		t.Errorf("%d import summaries after refused imports", c)
	}
}

// TestImportGroupExportIOS: an iOS export (12-hour clock, month/day, bracketed lines) of a group
// whose room already has a live message, imported from the management room by the group's name,
// goes to the group's linked history room: senders matched by push name and by a phone number
// written with direction marks, the user's own name to their ghost, an unknown name posted by the
// bot with the name in front and listed in the summary.
func TestImportGroupExportIOS(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.import.time_zone", "America/New_York")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400103", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000701", "Carol")
	dave, daveGhost := newContact(t, ctx, env, "4917600000702", "Dave")
	group, err := env.WA.CreateGroup(ctx, carol.Account(), "Book club", acct, dave.Account())
	if err != nil {
		t.Fatal(err)
	}
	alice := logInAccount(t, ctx, env, "alice", acct)
	if _, err = carol.SendText(ctx, group, "hello group"); err != nil {
		t.Fatal(err)
	}
	groupRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	env.WaitForMessage(ctx, alice.client, groupRoom, fromGhost(carolGhost, "hello group"))

	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, time.February, 3, 20, 5, 9, 0, ny)
	msgs := []exportgen.Message{
		{Time: base, Kind: chatexport.KindSystem, Text: "Carol created group “Book club”"},
		{Time: base.Add(time.Minute), Sender: "Carol", Text: "first"},
		{Time: base.Add(2 * time.Minute), Sender: "\u202a+49 176 00000702\u202c", Text: "second"},
		{Time: base.Add(3 * time.Minute), Sender: "Alice", Text: "third"},
		{Time: base.Add(4 * time.Minute), Sender: "Zoe", Text: "fourth"},
	}
	style := exportgen.StyleNamed("ios-us")
	const fileName = "WhatsApp Chat - Book club.zip"
	uploadFile(t, ctx, alice.client, alice.room, fileName, "application/zip", exportgen.Zip(style, "Book club", exportgen.Text(style, "Book club", msgs, true), nil))
	// A second group of the same name: the name alone does not say which chat is meant, the
	// answer lists both with their group IDs, and the ID picks one.
	other, err := env.WA.CreateGroup(ctx, dave.Account(), "Book club", acct, carol.Account())
	if err != nil {
		t.Fatal(err)
	}
	if _, err = dave.SendText(ctx, other, "the other club"); err != nil {
		t.Fatal(err)
	}
	joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, groupRoom)
	sendText(t, ctx, alice.client, alice.room, "import book club")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "book club` names 2 chats", "Book club (group `"+group.String()+"`)",
		"Book club (group `"+other.String()+"`)", "name the chat by its number or group ID"))
	sendText(t, ctx, alice.client, alice.room, "import "+group.String())
	summary := env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Imported "+fileName))
	for _, part := range []string{"(iOS, month/day, 12-hour) into the chat's history room (", ": 5 messages.", "senders shown by name (no contact matched): Zoe"} {
		if !strings.Contains(summary.Content.AsMessage().Body, part) {
			t.Errorf("summary %q lacks %q", summary.Content.AsMessage().Body, part)
		}
	}
	historyRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room, groupRoom)
	env.WaitForMessage(ctx, alice.client, historyRoom, botNotice(env.Env, "Zoe: fourth"))
	type want struct {
		sender id.UserID
		body   string
	}
	wants := []want{
		{env.BotMXID(), "Carol created group “Book club”"},
		{carolGhost, "first"},
		{daveGhost, "second"},
		{ghostOf(env, "4915112400103"), "third"},
		{env.BotMXID(), "Zoe: fourth"},
	}
	got := messagesOf(t, ctx, alice, historyRoom)
	if len(got) != len(wants) {
		t.Fatalf("history room has %d messages, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		at := base.Add(time.Duration(i) * time.Minute).UnixMilli()
		if got[i].Sender != w.sender || got[i].Content.AsMessage().Body != w.body || got[i].Timestamp != at {
			t.Errorf("message %d = %s %q at %d, want %s %q at %d", i, got[i].Sender, got[i].Content.AsMessage().Body, got[i].Timestamp, w.sender, w.body, at)
		}
	}
}
