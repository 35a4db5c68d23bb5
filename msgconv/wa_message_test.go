package msgconv

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func replyInfo(quoted string, mentions ...string) *waE2E.ContextInfo {
	info := &waE2E.ContextInfo{MentionedJID: mentions}
	if quoted != "" {
		info.StanzaID = proto.String(quoted)
	}
	return info
}

func TestFromWhatsAppKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		msg        *waE2E.Message
		msgType    event.MessageType
		body       string
		html       string
		geoURI     string
		userIDs    []id.UserID
		replyTo    id.EventID
		noMentions bool // m.mentions is not set (kinds other than text)
	}{
		{name: "conversation", msg: &waE2E.Message{Conversation: proto.String("hello *world*")},
			msgType: event.MsgText, body: "hello *world*", html: "hello <strong>world</strong>"},
		{name: "extended text with mention", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("hi @4915112345678"), ContextInfo: replyInfo("", bob.jid.String())}},
			msgType: event.MsgText, body: "hi Bob", html: "hi " + pill(bob), userIDs: []id.UserID{bob.userID}},
		{name: "unparsable mention jid", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("hi @4915112345678"), ContextInfo: replyInfo("", "not a jid@@")}},
			msgType: event.MsgText, body: "hi @4915112345678"},
		{name: "reply to known message", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("yes"), ContextInfo: replyInfo(quotedWAID)}},
			msgType: event.MsgText, body: "yes", replyTo: quotedEventID},
		{name: "reply to unknown message", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("yes"), ContextInfo: replyInfo("UNKNOWN")}},
			msgType: event.MsgText, body: "yes"},
		{name: "reply lookup fails", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("yes"), ContextInfo: replyInfo("BROKEN")}},
			msgType: event.MsgText, body: "yes"},
		{name: "poll vote", msg: &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{}},
			msgType: event.MsgNotice, body: "Unsupported message type: poll vote. Open WhatsApp on your phone to see it.", noMentions: true},
		{name: "group invite", msg: &waE2E.Message{GroupInviteMessage: &waE2E.GroupInviteMessage{}},
			msgType: event.MsgNotice, body: "Unsupported message type: group invite. Open WhatsApp on your phone to see it.", noMentions: true},
		{name: "buttons", msg: &waE2E.Message{ButtonsMessage: &waE2E.ButtonsMessage{}},
			msgType: event.MsgNotice, body: "Unsupported message type: interactive message. Open WhatsApp on your phone to see it.", noMentions: true},
		{name: "unnamed kind", msg: &waE2E.Message{Call: &waE2E.Call{}},
			msgType: event.MsgNotice, body: "Unsupported message type: call. Open WhatsApp on your phone to see it.", noMentions: true},
		{name: "empty", msg: &waE2E.Message{},
			msgType: event.MsgNotice, body: "Unsupported message type: empty message. Open WhatsApp on your phone to see it.", noMentions: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{Mentions: &testResolver{}, QuotedEvent: fakeQuotedEvent}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if len(converted.Parts) != 1 {
				t.Fatalf("got %d parts, want 1", len(converted.Parts))
			}
			part := converted.Parts[0]
			c := part.Content
			if part.Type != event.EventMessage || part.Extra != nil {
				t.Errorf("event type %s, extra %v", part.Type.Type, part.Extra)
			}
			if c.MsgType != tt.msgType || c.Body != tt.body || c.FormattedBody != tt.html || c.GeoURI != tt.geoURI {
				t.Errorf("got %s %q (html %q, geo %q), want %s %q (html %q, geo %q)",
					c.MsgType, c.Body, c.FormattedBody, c.GeoURI, tt.msgType, tt.body, tt.html, tt.geoURI)
			}
			if got := c.RelatesTo.GetReplyTo(); got != tt.replyTo {
				t.Errorf("reply to %q, want %q", got, tt.replyTo)
			}
			if tt.noMentions {
				if c.Mentions != nil {
					t.Errorf("unexpected m.mentions %v", c.Mentions)
				}
			} else if c.Mentions == nil || !slices.Equal(c.Mentions.UserIDs, tt.userIDs) {
				t.Errorf("m.mentions = %v, want %v", c.Mentions, tt.userIDs)
			}
		})
	}
}

func TestFromWhatsAppZeroValue(t *testing.T) {
	t.Parallel()
	var conv FromWhatsApp
	msg := &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("hi @4915112345678"), ContextInfo: replyInfo(quotedWAID, bob.jid.String())}}
	converted, err := conv.Convert(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if c := converted.Parts[0].Content; c.Body != "hi @4915112345678" || c.RelatesTo != nil {
		t.Errorf("got %q replying to %v, want plain text", c.Body, c.RelatesTo)
	}
	_, err = conv.Convert(context.Background(), &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}})
	if err != ErrNotConnected {
		t.Errorf("image without WhatsApp media: err = %v, want ErrNotConnected", err)
	}
}

func TestPartEventContent(t *testing.T) {
	t.Parallel()
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}
	if got := (Part{Type: event.EventMessage, Content: content}).EventContent(); got != content {
		t.Errorf("without extra fields: %#v, want the content itself", got)
	}
	extra := map[string]any{"org.matrix.msc3381.poll.start": map[string]any{"kind": "org.matrix.msc3381.poll.disclosed"}, "body": "lost"}
	got := (Part{Type: event.EventMessage, Content: content, Extra: extra}).EventContent()
	raw, err := (got.(*event.Content)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"body":"hi","msgtype":"m.text","org.matrix.msc3381.poll.start":{"kind":"org.matrix.msc3381.poll.disclosed"}}`
	if string(raw) != want {
		t.Errorf("merged content = %s, want %s", raw, want)
	}
}

func TestIsEmptyMessage(t *testing.T) {
	t.Parallel()
	if !IsEmptyMessage(&waE2E.Message{}) {
		t.Error("empty message not recognised")
	}
	if IsEmptyMessage(&waE2E.Message{Conversation: proto.String("")}) {
		t.Error("a message with an empty text was taken for empty")
	}
}

// TestReplyToUnknownMessageKeepsTheQuote: a reply whose quoted message has no Matrix event shows
// the text WhatsApp quotes in front of it; a reply to a known message points at it instead.
func TestReplyToUnknownMessageKeepsTheQuote(t *testing.T) {
	t.Parallel()
	conv := &FromWhatsApp{QuotedEvent: fakeQuotedEvent}
	reply := func(quotedID string, quoted *waE2E.Message) *event.MessageEventContent {
		info := replyInfo(quotedID)
		info.QuotedMessage = quoted
		converted, err := conv.Convert(context.Background(), &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("see you *there*"), ContextInfo: info}})
		if err != nil {
			t.Fatal(err)
		}
		return converted.Parts[0].Content
	}
	c := reply("NEVER-BRIDGED", &waE2E.Message{Conversation: proto.String("dinner at 8?\nor 9 <maybe>")})
	if c.Body != "> dinner at 8?\n> or 9 <maybe>\n\nsee you *there*" || c.RelatesTo.GetReplyTo() != "" ||
		!strings.HasPrefix(c.FormattedBody, "<blockquote>dinner at 8?<br/>or 9 &lt;maybe&gt;</blockquote>") || !strings.Contains(c.FormattedBody, "<strong>there</strong>") {
		t.Errorf("reply to an unknown message = %q / %q", c.Body, c.FormattedBody)
	}
	if c = reply(quotedWAID, &waE2E.Message{Conversation: proto.String("dinner at 8?")}); c.RelatesTo.GetReplyTo() != quotedEventID || strings.Contains(c.Body, "dinner") {
		t.Errorf("reply to a known message = %q replying to %q", c.Body, c.RelatesTo.GetReplyTo())
	}
	if c = reply("NEVER-BRIDGED", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}); c.Body != "see you *there*" {
		t.Errorf("reply to an unknown image without caption = %q", c.Body)
	}
}
