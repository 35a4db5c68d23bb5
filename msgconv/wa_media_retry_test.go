package msgconv

import (
	"bytes"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

func TestWithDirectPath(t *testing.T) {
	t.Parallel()
	key := []byte("media key")
	tests := []struct {
		name string
		msg  *waE2E.Message
		kind string // PhoneLacksMediaNotice names it
	}{
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{DirectPath: proto.String("/v/old"), URL: proto.String("https://mmg/old"), MediaKey: key, Caption: proto.String("hi")}}, "image"},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{DirectPath: proto.String("/v/old"), MediaKey: key}}, "video"},
		{"voice", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{DirectPath: proto.String("/v/old"), MediaKey: key, PTT: proto.Bool(true)}}, "voice message"},
		{"document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{DirectPath: proto.String("/v/old"), MediaKey: key}}, "document"},
		{"sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{DirectPath: proto.String("/v/old"), MediaKey: key}}, "sticker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := proto.CloneOf(tt.msg)
			out := WithDirectPath(tt.msg, "/v/new")
			media := waMediaOf(out)
			if media == nil || media.msg.GetDirectPath() != "/v/new" {
				t.Fatalf("attachment after WithDirectPath = %v, want direct path /v/new", out)
			}
			if !bytes.Equal(MediaKey(out), key) || !bytes.Equal(MediaKey(tt.msg), key) {
				t.Errorf("media key lost: %q / %q", MediaKey(out), MediaKey(tt.msg))
			}
			if !proto.Equal(tt.msg, before) {
				t.Errorf("WithDirectPath modified its argument")
			}
			want := "Failed to bridge " + tt.kind + ": it is no longer available on WhatsApp, and your phone no longer has it either."
			if got := PhoneLacksMediaNotice(tt.msg); got != want {
				t.Errorf("PhoneLacksMediaNotice = %q, want %q", got, want)
			}
		})
	}
	text := &waE2E.Message{Conversation: proto.String("no file")}
	if WithDirectPath(text, "/v/new") != nil || MediaKey(text) != nil || MediaKey(nil) != nil {
		t.Errorf("a message without attachment got a direct path or media key")
	}
}
