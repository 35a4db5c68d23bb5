package portal

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestWhatsAppRevokeRedactsEditsAndParts: deleting an edited or split message redacts the original,
// every edit of it (from either side) and every part.
func TestWhatsAppRevokeRedactsEditsAndParts(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a long paragraph of words. ", 3000) + "\n\n" + strings.Repeat("more words here. ", 4000)
	tests := []struct {
		name   string
		events func(e *env) // what happens before the revoke of "M1"
	}{
		{name: "edited twice from WhatsApp", events: func(e *env) {
			mustWA(e, waProtocol(testContact, "E1", "M1", &waE2E.Message{Conversation: proto.String("one")}))
			mustWA(e, waProtocol(testContact, "E2", "M1", &waE2E.Message{Conversation: proto.String("two")}))
		}},
		{name: "split into parts", events: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			text := "hello"
			if tc.events == nil {
				text = long
			}
			mustWA(e, waText(testContact, testContact, "M1", text))
			if tc.events != nil {
				tc.events(e)
			}
			sent := e.mx.callsOf("SendEvent")
			if tc.events == nil && len(sent) < 2 {
				t.Fatalf("a %d-byte text was sent as %d event(s), want several", len(long), len(sent))
			}
			mustWA(e, waProtocol(testContact, "R1", "M1", nil))
			var want, got []id.EventID
			for _, c := range sent {
				want = append(want, c.target)
			}
			for _, c := range e.mx.callsOf("Redact") {
				got = append(got, c.target)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("redacted %v, want every event of the message %v", got, want)
			}
		})
	}
}

// TestMatrixEditRedactedByWhatsAppDelete: a Matrix message edited in Matrix and then deleted on the
// phone loses the edit too.
func TestMatrixEditRedactedByWhatsAppDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	mustMX(e, mxText(roomID, "$orig", "typo"))
	edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "* fixed", NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "fixed"}}
	edit.RelatesTo = (&event.RelatesTo{}).SetReplace("$orig")
	mustMX(e, mxEvent(roomID, "$edit", event.EventMessage, edit))
	orig, err := e.db.Message.GetByMXID(e.ctx, "$orig")
	if err != nil || orig == nil {
		t.Fatalf("message map: %v %v", orig, err)
	}
	mustWA(e, waProtocol(testOwnJID, "R1", orig.WAID, nil))
	var got []id.EventID
	for _, c := range e.mx.callsOf("Redact") {
		got = append(got, c.target)
	}
	slices.Sort(got)
	if !slices.Equal(got, []id.EventID{"$edit", "$orig"}) {
		t.Errorf("redacted %v, want the message and its edit", got)
	}
}

// TestWhatsAppCaptionEdit: an edit that changes an attachment's caption keeps the attachment.
func TestWhatsAppCaptionEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	media := `{"msgtype":"m.image","body":"old","filename":"cat.jpg","url":"mxc://example.org/cat","info":{"mimetype":"image/jpeg","size":42}}`
	err := e.db.Message.Insert(e.ctx, &database.Message{Portal: e.portal(testContact).Key, WAID: "IMG", Sender: testContact,
		SenderMXID: e.ghost(testContact), MXID: "$img", MXRoom: roomID, Media: media})
	if err != nil {
		t.Fatal(err)
	}
	mustWA(e, waProtocol(testContact, "E1", "IMG", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("new _caption_")}}))
	sent := e.mx.callsOf("SendEvent")
	content := sent[len(sent)-1].content.(*event.MessageEventContent)
	nc := content.NewContent
	if content.RelatesTo.GetReplaceID() != "$img" || nc == nil {
		t.Fatalf("sent %+v, want an m.replace of $img", content)
	}
	if nc.MsgType != event.MsgImage || nc.URL != "mxc://example.org/cat" || nc.Body != "new _caption_" || nc.FileName != "cat.jpg" ||
		nc.FormattedBody != "new <em>caption</em>" || nc.Info == nil || nc.Info.MimeType != "image/jpeg" {
		t.Errorf("new content %+v, want the same image with the new caption", nc)
	}
}

// TestReactionVariationSelectors: reactions go to WhatsApp without the emoji presentation selector
// and come to Matrix with it wherever the emoji has one, so both sides group them.
func TestReactionVariationSelectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ matrix, whatsapp string }{
		{"\u2764\ufe0f", "\u2764"},
		{"\U0001F44D\ufe0f", "\U0001F44D"},
		{"\u263a\ufe0f", "\u263a"},
		{"\U0001F602", "\U0001F602"},
		{"\U0001F44D\U0001F3FD", "\U0001F44D\U0001F3FD"},
	} {
		if got := reactionToWhatsApp(tc.matrix); got != tc.whatsapp {
			t.Errorf("to WhatsApp %q = %q, want %q", tc.matrix, got, tc.whatsapp)
		}
		if got := reactionToMatrix(tc.whatsapp); got != tc.matrix {
			t.Errorf("to Matrix %q = %q, want %q", tc.whatsapp, got, tc.matrix)
		}
	}
	e := newEnv(t)
	roomID := dmRoom(t, e)
	first := e.mx.callsOf("SendEvent")[0].target
	react := &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: first, Key: "\u2764\ufe0f"}}
	mustMX(e, mxEvent(roomID, "$react", event.EventReaction, react))
	sends := e.cli.sent()
	if got := sends[len(sends)-1].msg.GetReactionMessage().GetText(); got != "\u2764" {
		t.Errorf("WhatsApp got reaction %q, want %q", got, "\u2764")
	}
	mustWA(e, waReaction(testContact, "X1", "M1", "\u263a"))
	sent := e.mx.callsOf("SendEvent")
	if got := sent[len(sent)-1].content.(*event.ReactionEventContent).RelatesTo.Key; got != "\u263a\ufe0f" {
		t.Errorf("Matrix got reaction %q, want %q", got, "\u263a\ufe0f")
	}
}

// TestReplyFromMatrixQuotesContent: a reply from Matrix quotes the replied-to message's content and
// author, for messages from WhatsApp and from Matrix alike.
func TestReplyFromMatrixQuotesContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e) // "hello" from the contact
	fromWA := e.mx.callsOf("SendEvent")[0].target
	mustMX(e, mxText(roomID, "$mine", "my own words"))
	for _, tc := range []struct {
		target id.EventID
		text   string
		author string
	}{
		{fromWA, "hello", testContact.String()},
		{"$mine", "my own words", testOwnJID.String()},
	} {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: "answer"}
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(tc.target)
		mustMX(e, mxEvent(roomID, id.EventID("$reply-"+tc.target.String()), event.EventMessage, content))
		sends := e.cli.sent()
		info := sends[len(sends)-1].msg.GetExtendedTextMessage().GetContextInfo()
		if info.GetQuotedMessage().GetConversation() != tc.text || info.GetParticipant() != tc.author {
			t.Errorf("reply to %s quotes %q by %q, want %q by %q", tc.target, info.GetQuotedMessage().GetConversation(), info.GetParticipant(), tc.text, tc.author)
		}
	}
}

// TestHomeserverRefusalBecomesNotice: content the homeserver refuses for good is replaced by a
// visible notice, and the message counts as bridged (it is not delivered again).
func TestHomeserverRefusalBecomesNotice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dmRoom(t, e)
	tooLarge := mautrix.HTTPError{Response: &http.Response{StatusCode: http.StatusRequestEntityTooLarge},
		RespError: &mautrix.RespError{ErrCode: "M_TOO_LARGE", Err: "event too large", StatusCode: http.StatusRequestEntityTooLarge}}
	e.mx.failNext("SendEvent", tooLarge)
	mustWA(e, waText(testContact, testContact, "BIG", "refused"))
	sent := e.mx.callsOf("SendEvent")
	last := sent[len(sent)-1].content.(*event.MessageEventContent)
	if last.MsgType != event.MsgNotice || !strings.Contains(last.Body, "M_TOO_LARGE") {
		t.Fatalf("last event %+v, want a notice naming the refusal", last)
	}
	if exists, err := e.db.Message.Exists(e.ctx, e.portal(testContact).Key, "BIG"); err != nil || !exists {
		t.Errorf("refused message not recorded (exists=%v, err=%v): it would come again", exists, err)
	}
}

// TestMisroutedAnswerIsNotARefusal: a 404 without a Matrix error body (a reverse proxy whose
// homeserver is restarting) says nothing about the message: it is not replaced by a refusal
// notice, and handling fails so that the message is tried again.
func TestMisroutedAnswerIsNotARefusal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dmRoom(t, e)
	before := len(e.mx.callsOf("SendEvent"))
	e.mx.failNext("SendEvent", mautrix.HTTPError{Response: &http.Response{StatusCode: http.StatusNotFound}})
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "PROXY404", "hello")); err == nil {
		t.Fatal("a message the homeserver never saw was handled as bridged")
	}
	for _, call := range e.mx.callsOf("SendEvent")[before:] {
		if c, ok := call.content.(*event.MessageEventContent); ok && c.MsgType == event.MsgNotice {
			t.Fatalf("a proxy's 404 became a notice: %q", c.Body)
		}
	}
	if exists, err := e.db.Message.Exists(e.ctx, e.portal(testContact).Key, "PROXY404"); err != nil || exists {
		t.Errorf("message recorded as bridged (exists=%v, err=%v)", exists, err)
	}
}

func mustWA(e *env, msgs ...*events.Message) {
	e.t.Helper()
	for _, msg := range msgs {
		if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, msg); err != nil {
			e.t.Fatalf("WhatsApp message %s failed: %v", msg.Info.ID, err)
		}
	}
}

func mustMX(e *env, evt *event.Event) {
	e.t.Helper()
	if _, err := e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
		e.t.Fatalf("Matrix event %s failed: %v", evt.ID, err)
	}
}

// TestReactionsAreEmoji: keys that are emoji (with selectors, skin tones, keycaps, flags, families)
// are WhatsApp reactions; words, numbers and long strings are not.
func TestReactionsAreEmoji(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"👍", "❤️", "👍🏽", "ℹ️", "1️⃣", "#️⃣", "🇩🇪", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👨‍👩‍👧‍👦", "©️", "😂😂"} {
		if !looksLikeEmoji(key) {
			t.Errorf("%q was refused as a reaction", key)
		}
	}
	for _, key := range []string{"lol", "+1", "ok 👍", "1", "ℹ", strings.Repeat("a", 200), strings.Repeat("😀", 100), ""} {
		if looksLikeEmoji(key) {
			t.Errorf("%q was taken as a reaction", key)
		}
	}
}

// TestWhatsAppChangesOnlyByAuthor: WhatsApp's server cannot see inside a revoke or an edit, so the
// bridge checks them as WhatsApp's apps do: in a direct chat the contact can neither delete nor
// edit the user's message; in a group a member's message is deleted by its author or an admin,
// not by another member, and edited by its author only.
func TestWhatsAppChangesOnlyByAuthor(t *testing.T) {
	t.Parallel()
	redactions := func(e *env) int { return len(e.mx.callsOf("Redact")) }

	e := newEnv(t)
	roomID := dmRoom(t, e)
	mustMX(e, mxText(roomID, "$mine", "my words"))
	mine, err := e.db.Message.GetByMXID(e.ctx, "$mine")
	if err != nil || mine == nil {
		t.Fatalf("message map: %v %v", mine, err)
	}
	sentBefore := len(e.mx.callsOf("SendEvent"))
	mustWA(e, waProtocol(testContact, "E1", mine.WAID, &waE2E.Message{Conversation: proto.String("their words")}))
	mustWA(e, waProtocol(testContact, "R1", mine.WAID, nil))
	if n := len(e.mx.callsOf("SendEvent")); n != sentBefore || redactions(e) != 0 {
		t.Errorf("the contact's edit and delete of the user's message reached the room: %d events sent, %d redactions", n-sentBefore, redactions(e))
	}
	mustWA(e, waProtocol(testOwnJID, "R2", mine.WAID, nil))
	if redactions(e) != 1 {
		t.Errorf("the user's own delete made %d redactions, want 1", redactions(e))
	}

	// A group: Ann (admin) and Ben (member) and Cal (member).
	ann, ben, cal := types.NewJID("15550002001", types.DefaultUserServer), types.NewJID("15550002002", types.DefaultUserServer), types.NewJID("15550002003", types.DefaultUserServer)
	g := newEnv(t)
	g.cli.group = &types.GroupInfo{JID: testGroup, GroupName: types.GroupName{Name: "Test group"}, Participants: []types.GroupParticipant{
		{JID: testOwnJID}, {JID: ann, IsAdmin: true}, {JID: ben}, {JID: cal},
	}}
	inGroup := func(sender types.JID, msgID, target string, edited *waE2E.Message) *events.Message {
		evt := waProtocol(sender, msgID, target, edited)
		evt.Info.Chat, evt.Info.IsGroup = testGroup, true
		return evt
	}
	mustWA(g, waMessage(testGroup, cal, "C1", &waE2E.Message{Conversation: proto.String("Cal's words")}))
	mustWA(g, waMessage(testGroup, cal, "C2", &waE2E.Message{Conversation: proto.String("more of Cal's words")}))
	sentBefore = len(g.mx.callsOf("SendEvent"))
	mustWA(g, inGroup(ben, "BE", "C1", &waE2E.Message{Conversation: proto.String("Ben's words")}))
	mustWA(g, inGroup(ben, "BR", "C1", nil))
	mustWA(g, inGroup(ann, "AE", "C1", &waE2E.Message{Conversation: proto.String("Ann's words")}))
	if n := len(g.mx.callsOf("SendEvent")); n != sentBefore || redactions(g) != 0 {
		t.Errorf("other members' edits and a member's delete of Cal's message reached the room: %d events, %d redactions", n-sentBefore, redactions(g))
	}
	mustWA(g, inGroup(ann, "AR", "C1", nil))
	mustWA(g, inGroup(cal, "CR", "C2", nil))
	if redactions(g) != 2 {
		t.Errorf("the admin's and the author's deletes made %d redactions, want 2", redactions(g))
	}
}

// TestMentionOfAStranger: a mention of a number the account never saw reads as the number, not
// as the ID of a ghost that has no name (and may not exist on the homeserver yet).
func TestMentionOfAStranger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.portal(testContact)
	mxid, name, ok := p.resolveMention(e.login)(e.ctx, types.NewJID("4915199999", types.DefaultUserServer))
	if !ok || name != "+4915199999" || mxid == "" {
		t.Errorf("mention of a stranger = %q, %q, %t; want the ghost and the number as its name", mxid, name, ok)
	}
}
