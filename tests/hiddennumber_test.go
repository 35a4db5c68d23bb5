package tests

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// lidGhostOf is the ghost of a contact known by its LID only.
func lidGhostOf(lid types.JID) id.UserID {
	return id.NewUserID("whatsapp_lid-"+lid.User, e2e.Domain)
}

// roomsOf returns the rooms the user joined and the rooms it is invited to.
func roomsOf(t *testing.T, ctx context.Context, u *loggedInUser) (joined, invited []id.RoomID) {
	t.Helper()
	resp, err := u.client.SyncRequest(ctx, 0, "", "", true, "")
	if err != nil {
		t.Fatal(err)
	}
	for room := range resp.Rooms.Join {
		joined = append(joined, room)
	}
	for room := range resp.Rooms.Invite {
		invited = append(invited, room)
	}
	return joined, invited
}

// TestHiddenNumberGroupMember: a group member who hides their number is one named lid- ghost (in the
// member list and as the sender of their messages), never a phone ghost; replies to and mentions
// of them work both ways.
func TestHiddenNumberGroupMember(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300021")
	waitAppStateSynced(t, ctx, env, alice.client, alice.room)
	emil, emilPhoneGhost := newContact(t, ctx, env, "4917600000031", "Emil Push")
	fay, fayGhost := newContact(t, ctx, env, "4917600000032", "Fay")
	emil.Account().SetPhoneNumberHidden(true)
	emilGhost := lidGhostOf(emil.LID())

	group, err := env.WA.CreateGroup(ctx, fay.Account(), "Big community", alice.acct, emil.Account())
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	env.WaitForJoin(ctx, alice.client, room, emilGhost)
	env.WaitForJoin(ctx, alice.client, room, fayGhost)

	emilMsgID, err := emil.SendText(ctx, group, "hello from a hidden number")
	if err != nil {
		t.Fatal(err)
	}
	first := env.WaitForMessage(ctx, alice.client, room, fromGhost(emilGhost, "hello from a hidden number"))
	ghostNameIs(t, ctx, alice.client, emilGhost, "Emil Push (WA)")

	// Matrix -> WhatsApp: a reply to Emil quotes his message under his LID, and a pill to his ghost
	// mentions his LID.
	_, err = alice.client.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "Emil: welcome", Format: event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/` + emilGhost.String() + `">Emil</a>: welcome`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{emilGhost}},
		RelatesTo:     (&event.RelatesTo{}).SetReplyTo(first.ID),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := emil.WaitMessage(ctx, func(m *events.Message) bool {
		return strings.HasSuffix(wasim.MessageText(m), ": welcome")
	})
	if err != nil {
		t.Fatalf("Emil never got the reply: %v", err)
	}
	ci := got.Message.GetExtendedTextMessage().GetContextInfo()
	if ci.GetStanzaID() != emilMsgID || !strings.HasPrefix(ci.GetParticipant(), emil.LID().User+"@") {
		t.Errorf("reply quotes %s by %s, want %s by Emil's LID", ci.GetStanzaID(), ci.GetParticipant(), emilMsgID)
	}
	if m := ci.GetMentionedJID(); len(m) != 1 || !strings.HasPrefix(m[0], emil.LID().User+"@") {
		t.Errorf("mention list %v, want Emil's LID", m)
	}

	// WhatsApp -> Matrix: Fay replies to Emil and mentions him by LID; both point at his one ghost.
	_, err = fay.Send(ctx, group, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("@" + emil.LID().User + " agreed"),
		ContextInfo: &waE2E.ContextInfo{
			StanzaID: proto.String(emilMsgID), Participant: proto.String(emil.LID().String()),
			QuotedMessage: &waE2E.Message{Conversation: proto.String("hello from a hidden number")},
			MentionedJID:  []string{emil.LID().String()},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reply := env.WaitForMessage(ctx, alice.client, room, func(evt *event.Event) bool {
		return evt.Sender == fayGhost && strings.HasSuffix(evt.Content.AsMessage().Body, "agreed")
	})
	content := reply.Content.AsMessage()
	if content.RelatesTo.GetReplyTo() != first.ID {
		t.Errorf("Fay's reply points at %s, want Emil's message %s", content.RelatesTo.GetReplyTo(), first.ID)
	}
	if content.Mentions == nil || !content.Mentions.Has(emilGhost) || !strings.Contains(content.FormattedBody, "https://matrix.to/#/"+emilGhost.String()) {
		t.Errorf("Fay's mention of Emil is not a pill to his ghost: %q, %+v", content.FormattedBody, content.Mentions)
	}

	// Emil's number never showed: no phone ghost exists in the room.
	members, err := alice.client.JoinedMembers(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := members.Joined[emilPhoneGhost]; ok {
		t.Errorf("Emil's phone ghost %s is in the group although his number is hidden", emilPhoneGhost)
	}
	if n := countMessages(t, ctx, env, alice, room, emilGhost, "hello from a hidden number"); n != 1 {
		t.Errorf("Emil's message is in the room %d times, want once", n)
	}
}

// TestHiddenNumberDMKeepsRoomWhenRevealed: a contact who hides their number writes a DM: the user
// gets one DM room with a lid- ghost and can answer. When the contact's number becomes known later
// (the phone syncs the LID mapping, later messages carry the number), the same ghost and the same
// room go on, and `pm` with the number opens that room too.
func TestHiddenNumberDMKeepsRoomWhenRevealed(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300022")
	waitAppStateSynced(t, ctx, env, alice.client, alice.room)
	emil, emilPhoneGhost := newContact(t, ctx, env, "4917600000033", "Emil")
	emil.Account().SetPhoneNumberHidden(true)
	emilGhost := lidGhostOf(emil.LID())

	hiddenID, err := emil.SendText(ctx, alice.acct.LID(), "hi, my number is hidden")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, emilGhost)
	hidden := env.WaitForMessage(ctx, alice.client, dm, fromGhost(emilGhost, "hi, my number is hidden"))
	ghostNameIs(t, ctx, alice.client, emilGhost, "Emil (WA)")
	sendText(t, ctx, alice.client, dm, "hello stranger")
	waitWAText(t, ctx, emil, "hello stranger")

	if err = emil.Account().RevealPhoneNumber(ctx, alice.acct); err != nil {
		t.Fatal(err)
	}
	if _, err = emil.SendText(ctx, alice.acct.LID(), "now you have my number"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(emilGhost, "now you have my number"))
	// A message addressed by number (the chat's other form) lands in the same room too, and so does
	// an edit, sent by number, of the message from before the number was known.
	byNumberID, err := emil.SendText(ctx, alice.acct.JID(), "by number")
	if err != nil {
		t.Fatal(err)
	}
	byNumber := env.WaitForMessage(ctx, alice.client, dm, fromGhost(emilGhost, "by number"))
	if _, err = emil.Send(ctx, alice.acct.JID(), emil.Client().BuildEdit(alice.acct.JID(), hiddenID, &waE2E.Message{Conversation: proto.String("hi, edited")})); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == emilGhost && c.RelatesTo.GetReplaceID() == hidden.ID && c.NewContent != nil && c.NewContent.Body == "hi, edited"
	})
	// ... and a delete sent by LID of the message that came by number.
	if _, err = emil.Send(ctx, alice.acct.LID(), emil.Client().BuildRevoke(alice.acct.LID(), emil.LID(), byNumberID)); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(byNumber.ID))
	sendText(t, ctx, alice.client, dm, "still here")
	waitWAText(t, ctx, emil, "still here")

	// `pm` with the number opens the existing room rather than a new one.
	sendText(t, ctx, alice.client, alice.room, "pm +"+emil.JID().User)
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, dm.String()))

	joined, invited := roomsOf(t, ctx, alice)
	if len(invited) != 0 {
		t.Errorf("the user has %d pending invites, want none (a second DM room?)", len(invited))
	}
	for _, room := range joined {
		if room != alice.room && room != dm {
			t.Errorf("the user is in room %s besides the management room and the one DM", room)
		}
	}
	members, err := alice.client.JoinedMembers(ctx, dm)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := members.Joined[emilPhoneGhost]; ok {
		t.Errorf("a second ghost %s joined the DM", emilPhoneGhost)
	}
}

// TestDMMigratedToLIDStaysOneRoom: a contact's chat starts addressed by phone number and WhatsApp
// moves it to LID addressing: messages, a reaction and a reply addressed by LID to messages that came
// by number land in the one DM room from the one ghost.
func TestDMMigratedToLIDStaysOneRoom(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300023")
	carol, carolGhost := newContact(t, ctx, env, "4917600000034", "Carol")

	byPN, err := carol.SendText(ctx, alice.acct.JID(), "addressed by number")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	first := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "addressed by number"))

	// The chat migrates: from now on Carol's phone addresses Alice by LID.
	if _, err = carol.SendText(ctx, alice.acct.LID(), "addressed by LID"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "addressed by LID"))
	if _, err = carol.Send(ctx, alice.acct.LID(), &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
		Key:  &waCommon.MessageKey{RemoteJID: proto.String(alice.acct.LID().String()), FromMe: proto.Bool(true), ID: proto.String(byPN)},
		Text: proto.String("👍"), SenderTimestampMS: proto.Int64(time.Now().UnixMilli()),
	}}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		rel := evt.Content.AsReaction().RelatesTo
		return evt.Sender == carolGhost && evt.Type == event.EventReaction && rel.EventID == first.ID && strings.HasPrefix(rel.Key, "👍")
	})
	// Alice answers from Matrix; the message goes out and Carol's LID-addressed reply quotes it.
	sendText(t, ctx, alice.client, dm, "got both")
	sent := waitWAText(t, ctx, carol, "got both")
	if _, err = carol.Send(ctx, alice.acct.LID(), &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("quoting you by LID"),
		ContextInfo: &waE2E.ContextInfo{
			StanzaID: proto.String(sent.Info.ID), Participant: proto.String(alice.acct.LID().String()),
			QuotedMessage: &waE2E.Message{Conversation: proto.String("got both")},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	quote := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "quoting you by LID"))
	if quote.Content.AsMessage().RelatesTo.GetReplyTo() == "" {
		t.Errorf("Carol's LID-addressed reply is not a reply in Matrix")
	}

	joined, invited := roomsOf(t, ctx, alice)
	if len(invited) != 0 || len(joined) != 2 {
		t.Errorf("the user has %d joined rooms and %d invites, want the management room and one DM", len(joined), len(invited))
	}
	if _, ok := func() (struct{}, bool) {
		members, err := alice.client.JoinedMembers(ctx, dm)
		if err != nil {
			t.Fatal(err)
		}
		_, ok := members.Joined[lidGhostOf(carol.LID())]
		return struct{}{}, ok
	}(); ok {
		t.Errorf("a lid- ghost of Carol joined the DM")
	}
}

// TestPNGroupMigrationKeepsMembers: an older group addressed by phone number migrates to LID
// addressing: the members' ghosts stay the same phone-number ghosts, nobody leaves or is kicked
// and re-invited, no lid- ghost appears, and a member added after the migration joins normally.
func TestPNGroupMigrationKeepsMembers(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300025")
	carol, carolGhost := newContact(t, ctx, env, "4917600000036", "Carol")
	dave, daveGhost := newContact(t, ctx, env, "4917600000037", "Dave")
	erin, erinGhost := newContact(t, ctx, env, "4917600000038", "Erin")

	group, err := env.WA.CreatePNGroup(ctx, carol.Account(), "Old group", alice.acct, dave.Account())
	if err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)
	env.WaitForJoin(ctx, alice.client, room, carolGhost)
	env.WaitForJoin(ctx, alice.client, room, daveGhost)
	if _, err = dave.SendText(ctx, group, "before the migration"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, fromGhost(daveGhost, "before the migration"))

	if err = env.WA.MigrateGroupToLID(group); err != nil {
		t.Fatal(err)
	}
	if _, err = dave.SendText(ctx, group, "after the migration"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, fromGhost(daveGhost, "after the migration"))
	if _, err = env.WA.UpdateGroupParticipants(ctx, carol.Account(), group, wasim.GroupAdd, erin.Account()); err != nil {
		t.Fatal(err)
	}
	env.WaitForJoin(ctx, alice.client, room, erinGhost)
	if _, err = carol.SendText(ctx, group, "welcome Erin"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "welcome Erin"))

	timeline, err := e2e.Timeline(ctx, alice.client, room, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if evt.Type != event.StateMember {
			continue
		}
		member := evt.GetStateKey()
		if m := evt.Content.AsMember().Membership; m == event.MembershipLeave || m == event.MembershipBan {
			t.Errorf("%s became %s in the migrated group", member, m)
		}
		if strings.Contains(member, "whatsapp_lid-") {
			t.Errorf("a lid- ghost %s appeared in the migrated group", member)
		}
	}
	members, err := alice.client.JoinedMembers(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []id.UserID{alice.client.UserID, carolGhost, daveGhost, erinGhost} {
		if _, ok := members.Joined[want]; !ok {
			t.Errorf("%s is not a member after the migration", want)
		}
	}
}

// TestHiddenNumberDMMedia: media goes both ways in a direct chat with a contact known by LID only:
// an image and a document from WhatsApp arrive byte for byte from the lid- ghost, and an image and
// a file from Matrix reach the contact, who downloads them byte for byte.
func TestHiddenNumberDMMedia(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112300091")
	emil, emilPhoneGhost := newContact(t, ctx, env, "4917600000091", "Emil")
	emil.Account().SetPhoneNumberHidden(true)
	emilGhost := lidGhostOf(emil.LID())

	// WhatsApp -> Matrix.
	image := randomBytes(t, "\xff\xd8\xff\xe0 hidden image", 30_000)
	if _, err := emil.SendMedia(ctx, alice.acct.LID(), wasim.Media{Kind: wasim.KindImage, Data: image, Caption: "from a hidden number"}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, emilGhost)
	imgEvt := env.WaitForMessage(ctx, alice.client, dm, fromGhost(emilGhost, "from a hidden number"))
	if c := imgEvt.Content.AsMessage(); c.MsgType != event.MsgImage || c.Info == nil || c.Info.MimeType != "image/jpeg" {
		t.Errorf("image event = %s with info %+v, want m.image image/jpeg", c.MsgType, c.Info)
	}
	if got := downloadEventMedia(t, ctx, alice.client, imgEvt); !bytes.Equal(got, image) {
		t.Errorf("downloaded image differs from the sent one (%d vs %d bytes)", len(got), len(image))
	}
	doc := randomBytes(t, "%PDF-1.4 hidden", 20_000)
	if _, err := emil.SendMedia(ctx, alice.acct.LID(), wasim.Media{Kind: wasim.KindDocument, Data: doc, MimeType: "application/pdf", FileName: "terms.pdf"}); err != nil {
		t.Fatal(err)
	}
	docEvt := env.WaitForMessage(ctx, alice.client, dm, fromGhost(emilGhost, "terms.pdf"))
	if got := downloadEventMedia(t, ctx, alice.client, docEvt); !bytes.Equal(got, doc) {
		t.Errorf("downloaded document differs from the sent one")
	}

	// Matrix -> WhatsApp.
	photo := randomBytes(t, "\x89PNG\r\n\x1a\n to a hidden number", 25_000)
	up, err := alice.client.UploadBytes(ctx, photo, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "for you", FileName: "photo.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(photo), Width: 320, Height: 200},
	})
	gotImg := waitWAKind(t, ctx, emil, wasim.KindImage)
	if c := gotImg.Message.GetImageMessage(); c.GetCaption() != "for you" || c.GetMimetype() != "image/png" {
		t.Errorf("image message = caption %q, mimetype %q", c.GetCaption(), c.GetMimetype())
	}
	if got, err := emil.Download(ctx, gotImg.Message); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("contact's download of the image: err %v, equal %v", err, bytes.Equal(got, photo))
	}
	notes := randomBytes(t, "notes for a hidden number ", 10_000)
	if up, err = alice.client.UploadBytes(ctx, notes, "text/plain"); err != nil {
		t.Fatal(err)
	}
	sendMatrixMedia(t, ctx, alice.client, dm, &event.MessageEventContent{
		MsgType: event.MsgFile, Body: "notes.txt", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "text/plain", Size: len(notes)},
	})
	gotDoc := waitWAKind(t, ctx, emil, wasim.KindDocument)
	if got, err := emil.Download(ctx, gotDoc.Message); err != nil || !bytes.Equal(got, notes) {
		t.Errorf("contact's download of the document: err %v, equal %v", err, bytes.Equal(got, notes))
	}
	// The contact got both as messages from the user, in their chat with the user.
	for _, msg := range []*events.Message{gotImg, gotDoc} {
		if msg.Info.Sender.User != alice.acct.LID().User && msg.Info.Sender.User != alice.acct.JID().User {
			t.Errorf("the contact got media from %s, not from the user", msg.Info.Sender)
		}
	}
	members, err := alice.client.JoinedMembers(ctx, dm)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := members.Joined[emilPhoneGhost]; ok {
		t.Errorf("the phone-number ghost %s joined a chat with a hidden number", emilPhoneGhost)
	}
}
