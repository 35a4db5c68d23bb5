package msgconv

import (
	"context"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func withMentions(content *event.MessageEventContent, room bool, users ...id.UserID) *event.MessageEventContent {
	content.Mentions = &event.Mentions{Room: room, UserIDs: users}
	return content
}

func TestFromMatrixMentions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		content  *event.MessageEventContent
		text     string
		mentions []string
		everyone bool
	}{
		{name: "room mention becomes @all", content: withMentions(plain("@room lunch is ready"), true),
			text: "@all lunch is ready", everyone: true},
		{name: "room mention in html", content: withMentions(htmlMsg("x", "<b>hey</b> @room!"), true),
			text: "*hey* @all!", everyone: true},
		{name: "room mention without @room in the text", content: withMentions(plain("lunch"), true),
			text: "@all lunch", everyone: true},
		{name: "@room without m.mentions.room is text", content: withMentions(plain("@room is a word"), false),
			text: "@room is a word"},
		{name: "mention only in m.mentions", content: withMentions(plain("Bob: hi"), false, bob.userID),
			text: "Bob: hi", mentions: []string{bob.jid.String()}},
		{name: "pill and m.mentions are not doubled", content: withMentions(htmlMsg("x", pill(bob)+" "+pill(carol)), false, carol.userID, bob.userID),
			text: "@4915112345678 @123456789012345", mentions: []string{bob.jid.String(), carol.jid.String()}},
		{name: "unknown user in m.mentions", content: withMentions(plain("hi"), false, "@stranger:elsewhere.org"),
			text: "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromMatrix{Users: &testResolver{}}
			msg, err := conv.ConvertText(context.Background(), tt.content)
			if err != nil {
				t.Fatal(err)
			}
			text := msg.GetConversation()
			if ext := msg.GetExtendedTextMessage(); ext != nil {
				text = ext.GetText()
			}
			info := msg.GetExtendedTextMessage().GetContextInfo()
			if text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			if !slices.Equal(info.GetMentionedJID(), tt.mentions) {
				t.Errorf("mentioned = %v, want %v", info.GetMentionedJID(), tt.mentions)
			}
			if everyone := info.GetNonJIDMentions() == 1; everyone != tt.everyone {
				t.Errorf("mentions everyone = %v, want %v", everyone, tt.everyone)
			}
		})
	}
}

func TestFromWhatsAppMentionEveryone(t *testing.T) {
	t.Parallel()
	conv := &FromWhatsApp{Mentions: &testResolver{}, WhatsApp: &fakeWhatsApp{data: pngData}, Matrix: &fakeMatrix{}}
	for _, tt := range []struct {
		name string
		msg  *waE2E.Message
		room bool
	}{
		{name: "@all", msg: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("@all lunch"), ContextInfo: &waE2E.ContextInfo{NonJIDMentions: proto.Uint32(1)}}}, room: true},
		{name: "image caption with @all", msg: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: proto.String("@all look"), Mimetype: proto.String("image/png"),
			ContextInfo: &waE2E.ContextInfo{NonJIDMentions: proto.Uint32(1)}}}, room: true},
		{name: "plain @all text", msg: &waE2E.Message{Conversation: proto.String("@all lunch")}},
	} {
		converted, err := conv.Convert(context.Background(), tt.msg)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		mentions := converted.Parts[0].Content.Mentions
		if got := mentions != nil && mentions.Room; got != tt.room {
			t.Errorf("%s: m.mentions.room = %v, want %v", tt.name, got, tt.room)
		}
	}
}

func TestFromMatrixReplyQuotesContent(t *testing.T) {
	t.Parallel()
	image := &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		Caption: proto.String("the view"), Mimetype: proto.String("image/jpeg"), MediaKey: []byte{1, 2},
		JPEGThumbnail: []byte{9}, ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("OLDER")},
	}, MessageContextInfo: &waE2E.MessageContextInfo{MessageSecret: []byte{7}}}
	lid := types.NewJID("123456789012345", types.HiddenUserServer)
	tests := []struct {
		name        string
		quoted      *waE2E.Message
		sender      types.JID
		wantText    string
		wantCaption string
	}{
		{name: "text", quoted: &waE2E.Message{Conversation: proto.String("original words")}, sender: bob.jid, wantText: "original words"},
		{name: "extended text", quoted: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("see example.org"), ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{bob.jid.String()}}}},
			sender: lid, wantText: "see example.org"},
		{name: "image with caption", quoted: image, sender: bob.jid, wantCaption: "the view"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromMatrix{QuotedMessage: func(context.Context, id.EventID) (QuotedMessage, bool, error) {
				return QuotedMessage{ID: quotedWAID, Sender: tt.sender, Message: QuoteContent(tt.quoted)}, true, nil
			}}
			msg, err := conv.ConvertText(context.Background(), replyTo(plain("> <@bob:example.org> x\n\nanswer"), quotedEventID))
			if err != nil {
				t.Fatal(err)
			}
			info := msg.GetExtendedTextMessage().GetContextInfo()
			if info.GetStanzaID() != quotedWAID || info.GetParticipant() != tt.sender.String() {
				t.Errorf("quote of %q by %q, want %q by %s", info.GetStanzaID(), info.GetParticipant(), quotedWAID, tt.sender)
			}
			q := info.GetQuotedMessage()
			if q.GetConversation() != tt.wantText {
				t.Errorf("quoted text = %q, want %q", q.GetConversation(), tt.wantText)
			}
			if img := q.GetImageMessage(); tt.wantCaption != "" {
				if img.GetCaption() != tt.wantCaption || img.GetMimetype() != "image/jpeg" || len(img.GetJPEGThumbnail()) == 0 {
					t.Errorf("quoted image = %v, want caption %q with its thumbnail", img, tt.wantCaption)
				}
				if img.GetContextInfo() != nil || q.GetMessageContextInfo() != nil {
					t.Errorf("quoted image keeps its own context: %v", q)
				}
			}
		})
	}
	if image.GetImageMessage().GetContextInfo() == nil || image.GetMessageContextInfo() == nil {
		t.Error("QuoteContent modified its argument")
	}
}
