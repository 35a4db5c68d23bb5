package msgconv

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

func TestConvertCaptionEdit(t *testing.T) {
	t.Parallel()
	withCaption := &event.MessageEventContent{MsgType: event.MsgImage, Body: "old caption", FileName: "cat.jpg",
		URL: "mxc://example.org/cat", Info: &event.FileInfo{MimeType: "image/jpeg", Size: 42}}
	noCaption := &event.MessageEventContent{MsgType: event.MsgFile, Body: "report.pdf", URL: "mxc://example.org/pdf"}
	tests := []struct {
		name      string
		edited    *waE2E.Message
		media     *event.MessageEventContent
		ok        bool
		body      string
		fileName  string
		formatted string
	}{
		{name: "new caption", edited: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("new *caption*")}},
			media: withCaption, ok: true, body: "new *caption*", fileName: "cat.jpg", formatted: "new <strong>caption</strong>"},
		{name: "caption removed", edited: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}},
			media: withCaption, ok: true, body: "cat.jpg"},
		{name: "caption added to a document", edited: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: proto.String("read this")}},
			media: noCaption, ok: true, body: "read this", fileName: "report.pdf"},
		{name: "text edit", edited: &waE2E.Message{Conversation: proto.String("x")}, media: withCaption},
		{name: "unknown attachment", edited: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("x")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{}
			content, ok := conv.ConvertCaptionEdit(context.Background(), tt.edited, tt.media)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if content.URL != tt.media.URL || content.MsgType != tt.media.MsgType || content.Info != tt.media.Info {
				t.Errorf("the attachment changed: %+v", content)
			}
			if content.Body != tt.body || content.FileName != tt.fileName || content.FormattedBody != tt.formatted {
				t.Errorf("body %q, file name %q, html %q; want %q, %q, %q", content.Body, content.FileName, content.FormattedBody, tt.body, tt.fileName, tt.formatted)
			}
		})
	}
	if withCaption.Body != "old caption" {
		t.Error("the stored content was modified")
	}
}
