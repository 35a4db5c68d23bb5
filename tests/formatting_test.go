package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestFormattingAndLifecycle covers what each side shows of the other's text and of a message's
// life: links without a scheme stay unformatted, literal markers from Matrix stay literal, nested
// lists keep their shape, mention-everyone and m.mentions-only mentions notify, replies quote their
// content, a caption edit keeps the image, a delete removes every edit, an over-long text arrives in
// parts, an over-long Matrix text is refused with a notice, and malformed content is bridged as far
// as it parses, with a word to the sender.
func TestFormattingAndLifecycle(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340021")
	erin, erinGhost := newContact(t, ctx, env, "4917600000021", "Erin")
	sendMX := func(dm id.RoomID, content *event.MessageEventContent) id.EventID {
		t.Helper()
		resp, err := alice.client.SendMessageEvent(ctx, dm, event.EventMessage, content)
		if err != nil {
			t.Fatal(err)
		}
		return resp.EventID
	}
	waitWA := func(what string, match func(*events.Message) bool) *events.Message {
		t.Helper()
		msg, err := erin.WaitMessage(ctx, match)
		if err != nil {
			t.Fatalf("WhatsApp never received %s: %v", what, err)
		}
		return msg
	}

	// A link without a scheme is not markup.
	linkID, err := erin.SendText(ctx, alice.acct.JID(), "see example.org/_draft_/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	link := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "see example.org/_draft_/notes.txt"))
	if html := link.Content.AsMessage().FormattedBody; strings.Contains(html, "<em>") {
		t.Errorf("link shown with italics: %q", html)
	}

	// Literal markers from Matrix reach WhatsApp as typed; nested lists keep their shape.
	sendMX(dm, &event.MessageEventContent{MsgType: event.MsgText, Body: `¯\_(ツ)_/¯`})
	waitWAText(t, ctx, erin, "¯\\\u2060_(ツ)_/¯")
	sendMX(dm, &event.MessageEventContent{MsgType: event.MsgText, Body: "one two three", Format: event.FormatHTML,
		FormattedBody: "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul><p>after</p>"})
	waitWAText(t, ctx, erin, "- one\n  - two\n- three\n\nafter")

	// Mentions: @room notifies everyone, a mention only in m.mentions is a WhatsApp mention, and
	// WhatsApp's @all sets m.mentions.room.
	sendMX(dm, &event.MessageEventContent{MsgType: event.MsgText, Body: "@room lunch", Mentions: &event.Mentions{Room: true}})
	everyone := waitWAText(t, ctx, erin, "@all lunch")
	if everyone.Message.GetExtendedTextMessage().GetContextInfo().GetNonJIDMentions() != 1 {
		t.Errorf("@room did not mention everyone: %v", everyone.Message)
	}
	sendMX(dm, &event.MessageEventContent{MsgType: event.MsgText, Body: "Erin: ping", Mentions: &event.Mentions{UserIDs: []id.UserID{erinGhost}}})
	ping := waitWAText(t, ctx, erin, "Erin: ping")
	if got := ping.Message.GetExtendedTextMessage().GetContextInfo().GetMentionedJID(); len(got) != 1 || got[0] != erin.JID().String() {
		t.Errorf("m.mentions-only mention sent as %v, want [%s]", got, erin.JID())
	}
	if _, err = erin.Send(ctx, alice.acct.JID(), &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("@all dinner"), ContextInfo: &waE2E.ContextInfo{NonJIDMentions: proto.Uint32(1)}}}); err != nil {
		t.Fatal(err)
	}
	if all := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "@all dinner")); !all.Content.AsMessage().Mentions.Room {
		t.Error("WhatsApp's @all did not set m.mentions.room")
	}

	// A reply from Matrix quotes the message's content and author.
	reply := &event.MessageEventContent{MsgType: event.MsgText, Body: "which draft?"}
	reply.RelatesTo = (&event.RelatesTo{}).SetReplyTo(link.ID)
	sendMX(dm, reply)
	quote := waitWAText(t, ctx, erin, "which draft?").Message.GetExtendedTextMessage().GetContextInfo()
	// Erin's messages in this chat come from her LID, so that is whom the quote names.
	if quote.GetStanzaID() != linkID || quote.GetParticipant() != erin.LID().String() ||
		quote.GetQuotedMessage().GetConversation() != "see example.org/_draft_/notes.txt" {
		t.Errorf("reply quotes %q by %q: %v", quote.GetStanzaID(), quote.GetParticipant(), quote.GetQuotedMessage())
	}

	// A caption edit keeps the image.
	imageID, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindImage, Data: randomBytes(t, "\xff\xd8\xff\xe0 img", 5000), Caption: "old caption"})
	if err != nil {
		t.Fatal(err)
	}
	image := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "old caption"))
	if _, err = erin.Send(ctx, alice.acct.JID(), erin.Client().BuildEdit(alice.acct.JID(), imageID,
		&waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("new caption")}})); err != nil {
		t.Fatal(err)
	}
	captionEdit := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Content.AsMessage().RelatesTo.GetReplaceID() == image.ID
	})
	if nc := captionEdit.Content.AsMessage().NewContent; nc == nil || nc.MsgType != event.MsgImage || nc.URL != image.Content.AsMessage().URL || nc.Body != "new caption" {
		t.Errorf("caption edit shows %+v, want the same image with the new caption", nc)
	}

	// Deleting an edited message removes the edit too.
	typoID, err := erin.SendText(ctx, alice.acct.JID(), "tpyo")
	if err != nil {
		t.Fatal(err)
	}
	typo := env.WaitForMessage(ctx, alice.client, dm, fromGhost(erinGhost, "tpyo"))
	if _, err = erin.Send(ctx, alice.acct.JID(), erin.Client().BuildEdit(alice.acct.JID(), typoID, &waE2E.Message{Conversation: proto.String("typo")})); err != nil {
		t.Fatal(err)
	}
	fix := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Content.AsMessage().RelatesTo.GetReplaceID() == typo.ID
	})
	if _, err = erin.Send(ctx, alice.acct.JID(), erin.Client().BuildRevoke(alice.acct.JID(), erin.JID(), typoID)); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(typo.ID))
	env.WaitForMessage(ctx, alice.client, dm, isRedacted(fix.ID))

	// A WhatsApp text over Matrix's event size limit arrives complete, in order, in parts.
	long := strings.Repeat("This paragraph is long enough to matter. ", 1000) + "\n\n" + strings.Repeat("And the end of it. ", 2500) + "THE END"
	if _, err = erin.SendText(ctx, alice.acct.JID(), long); err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	for !strings.HasSuffix(joined.String(), "THE END") {
		prefix := joined.String()
		part := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
			body := evt.Content.AsMessage().Body
			return evt.Sender == erinGhost && body != "" && strings.HasPrefix(long, prefix+body)
		})
		joined.WriteString(part.Content.AsMessage().Body)
	}
	if joined.String() != long {
		t.Error("the parts of the long text do not add up to it")
	}

	// A Matrix text over WhatsApp's limit is refused with a notice. Dendrite refuses such events
	// from its own users, so the event comes as another server's would, in a transaction.
	if err = env.SendTransaction(ctx, "test-too-long-1", e2e.Transaction{Events: []*event.Event{{
		ID: "$too-long", RoomID: dm, Sender: alice.client.UserID, Type: event.EventMessage, Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Raw: map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 65537)}},
	}}}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == env.BotMXID() && strings.Contains(evt.Content.AsMessage().Body, "too long for WhatsApp")
	})

	// Malformed content: the body is bridged without the broken relation, and the sender is told.
	if err = env.SendTransaction(ctx, "test-malformed-1", e2e.Transaction{Events: []*event.Event{{
		ID: "$malformed-relation", RoomID: dm, Sender: alice.client.UserID, Type: event.EventMessage, Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Raw: map[string]any{"msgtype": "m.text", "body": "relation is a list", "m.relates_to": []any{map[string]any{"rel_type": "m.thread"}}}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitWA("the malformed message's body", func(m *events.Message) bool { return wasim.MessageText(m) == "relation is a list" })
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		body := evt.Content.AsMessage().Body
		return evt.Sender == env.BotMXID() && strings.Contains(body, "malformed") && strings.Contains(body, "m.relates_to")
	})
	// With nothing usable left the sender is told the message was not bridged.
	if err = env.SendTransaction(ctx, "test-malformed-2", e2e.Transaction{Events: []*event.Event{{
		ID: "$malformed-body", RoomID: dm, Sender: alice.client.UserID, Type: event.EventMessage, Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Raw: map[string]any{"msgtype": "m.text", "body": 42}},
	}}}); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		body := evt.Content.AsMessage().Body
		return evt.Sender == env.BotMXID() && strings.Contains(body, "was not bridged") && strings.Contains(body, "malformed")
	})
}
