package msgconv

import (
	"context"
	"errors"
	"slices"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func replyTo(content *event.MessageEventContent, eventID id.EventID) *event.MessageEventContent {
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(eventID)
	return content
}

func TestFromMatrixText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		content  *event.MessageEventContent
		text     string
		extended bool // an ExtendedTextMessage is expected (mentions or a quote)
		mentions []string
		quoted   string
	}{
		{name: "text", content: plain("hello world"), text: "hello world"},
		{name: "literal markers stay literal", content: plain("hello *world*"), text: "hello \u2060*world*"},
		{name: "notice", content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: "beep"}, text: "beep"},
		{name: "emote", content: &event.MessageEventContent{MsgType: event.MsgEmote, Body: "waves"}, text: "/me waves"},
		{name: "html", content: htmlMsg("x", "<b>bold</b> <i>it</i>"), text: "*bold* _it_"},
		{name: "pill", content: htmlMsg("Bob: hi", pill(bob)+": hi"), text: "@4915112345678: hi",
			extended: true, mentions: []string{bob.jid.String()}},
		{name: "pills of ghost and user", content: htmlMsg("x", pill(carol)+" "+pill(alice)), text: "@123456789012345 @4900000000001",
			extended: true, mentions: []string{carol.jid.String(), alice.jid.String()}},
		{name: "reply to bridged message", content: replyTo(plain("> <@bob:example.org> hi\n\nyes"), quotedEventID), text: "yes",
			extended: true, quoted: quotedWAID},
		{name: "reply to unknown message", content: replyTo(plain("yes"), "$unknown"), text: "yes"},
		{name: "reply with pill", content: replyTo(htmlMsg("x", "<mx-reply>q</mx-reply>"+pill(bob)), quotedEventID), text: "@4915112345678",
			extended: true, mentions: []string{bob.jid.String()}, quoted: quotedWAID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromMatrix{Users: &testResolver{}, QuotedMessage: fakeQuotedMessage}
			msg, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			ext := msg.GetExtendedTextMessage()
			if (ext != nil) != tt.extended {
				t.Fatalf("got %v, want extended text: %v", msg, tt.extended)
			}
			text := msg.GetConversation()
			if ext != nil {
				text = ext.GetText()
			}
			if text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			info := ext.GetContextInfo()
			if !slices.Equal(info.GetMentionedJID(), tt.mentions) {
				t.Errorf("mentioned = %v, want %v", info.GetMentionedJID(), tt.mentions)
			}
			if info.GetStanzaID() != tt.quoted {
				t.Errorf("quoted = %q, want %q", info.GetStanzaID(), tt.quoted)
			}
			if tt.quoted != "" && (info.GetParticipant() != bob.jid.String() || info.GetQuotedMessage() == nil) {
				t.Errorf("quote participant %q, quoted message %v", info.GetParticipant(), info.GetQuotedMessage())
			}
		})
	}
}

func TestFromMatrixTextFailures(t *testing.T) {
	t.Parallel()
	conv := &FromMatrix{QuotedMessage: fakeQuotedMessage}
	ctx := context.Background()
	_, err := conv.Convert(ctx, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgVerificationRequest, Body: "verify"})
	var perm PermanentError
	if !errors.As(err, &perm) || err.Error() != "sending `m.key.verification.request` messages to WhatsApp is not supported yet" {
		t.Errorf("verification request: err = %v, want a PermanentError", err)
	}
	for _, tt := range []struct {
		name    string
		content *event.MessageEventContent
		want    string
	}{
		{"no msgtype", &event.MessageEventContent{Body: "hello"}, "it has no message type (`msgtype`), so the bridge cannot tell what kind of message it is"},
		{"no body", &event.MessageEventContent{MsgType: event.MsgText}, "it has no text"},
		{"whitespace body", plain(" \n\t "), "it has no text"},
		{"whitespace emote", &event.MessageEventContent{MsgType: event.MsgEmote, Body: "  "}, "it has no text"},
		{"empty HTML", htmlMsg(" ", "<p> </p>"), "it has no text"},
		{"whitespace edit", &event.MessageEventContent{MsgType: event.MsgText, Body: "* ", NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: " "}}, ""},
	} {
		content := tt.content
		if content.NewContent != nil {
			content, tt.want = content.NewContent, "it has no text"
		}
		_, err = conv.Convert(ctx, event.EventMessage, content)
		if !errors.As(err, &perm) || err.Error() != tt.want {
			t.Errorf("%s: err = %v, want a PermanentError %q", tt.name, err, tt.want)
		}
	}
	_, err = conv.ConvertText(ctx, replyTo(plain("yes"), "$broken"))
	if err == nil || errors.As(err, &perm) || err.Error() != "database is down" {
		t.Errorf("failed quote lookup: err = %v, want the lookup's error", err)
	}
	_, err = conv.ConvertText(ctx, &event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.jpg"})
	if !errors.As(err, &perm) {
		t.Errorf("edit into an image: err = %v, want a PermanentError", err)
	}
}

func TestFromMatrixZeroValue(t *testing.T) {
	t.Parallel()
	var conv FromMatrix
	msg, err := conv.Convert(context.Background(), event.EventMessage, replyTo(htmlMsg("x", "hi "+pill(bob)), quotedEventID))
	if err != nil {
		t.Fatal(err)
	}
	if msg.GetConversation() != "hi Bob" {
		t.Errorf("got %v, want plain text with the display name", msg)
	}
	_, err = conv.Convert(context.Background(), event.EventMessage, &event.MessageEventContent{MsgType: event.MsgImage, URL: "mxc://example.org/cat"})
	if !errors.Is(err, ErrNotConnected) {
		t.Errorf("image without WhatsApp media: err = %v, want ErrNotConnected", err)
	}
}
