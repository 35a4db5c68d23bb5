package msgconv

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

func TestIsViewOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     *waE2E.Message
		wrapped bool
		want    bool
	}{
		{"wrapped image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}, true, true},
		{"flagged video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{ViewOnce: proto.Bool(true)}}, false, true},
		{"flagged voice note", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{ViewOnce: proto.Bool(true), PTT: proto.Bool(true)}}, false, true},
		{"plain image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}, false, false},
		{"text", &waE2E.Message{Conversation: proto.String("hi")}, false, false},
	}
	for _, tt := range tests {
		if got := IsViewOnce(tt.msg, tt.wrapped); got != tt.want {
			t.Errorf("%s: IsViewOnce = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestConvertViewOnce(t *testing.T) {
	t.Parallel()
	msg := &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
		ViewOnce: proto.Bool(true), Mimetype: proto.String("image/jpeg"), Caption: proto.String("only once"),
		URL: proto.String("https://mmg.example/x"), DirectPath: proto.String("/x"), MediaKey: []byte{1, 2}, JPEGThumbnail: []byte{3},
	}}
	tests := []struct {
		name      string
		show      bool
		bodies    []string
		downloads int
	}{
		{"shown once", true, []string{"only once", viewOnceShownText}, 1},
		{"hidden", false, []string{ViewOnceHiddenText}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa := &fakeWhatsApp{data: pngData}
			conv := &FromWhatsApp{WhatsApp: wa, Matrix: &fakeMatrix{}}
			converted, err := conv.ConvertViewOnce(context.Background(), msg, tt.show)
			if err != nil {
				t.Fatal(err)
			}
			if len(converted.Parts) != len(tt.bodies) || wa.downloads != tt.downloads {
				t.Fatalf("%d parts after %d downloads, want %d after %d", len(converted.Parts), wa.downloads, len(tt.bodies), tt.downloads)
			}
			for i, part := range converted.Parts {
				if part.Content.Body != tt.bodies[i] || !part.ViewOnce {
					t.Errorf("part %d: %q (view-once %v), want %q", i, part.Content.Body, part.ViewOnce, tt.bodies[i])
				}
			}
			last := converted.Parts[len(converted.Parts)-1].Content
			if last.MsgType != event.MsgNotice {
				t.Errorf("last part is %s, want a notice", last.MsgType)
			}
		})
	}
	quote := ViewOnceQuote(msg).GetImageMessage()
	if quote == nil || !quote.GetViewOnce() || quote.URL != nil || quote.MediaKey != nil || quote.JPEGThumbnail != nil || quote.Caption != nil {
		t.Errorf("view-once quote keeps %v", quote)
	}
	if ViewOnceQuote(&waE2E.Message{Conversation: proto.String("hi")}) != nil {
		t.Error("a text has a view-once quote")
	}
}
