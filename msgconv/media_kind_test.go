package msgconv

import (
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

func TestMediaKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind     MediaKind
		name     string
		waType   whatsmeow.MediaType
		evtType  event.Type
		msgType  event.MessageType
		mimeType string
		fileName string
	}{
		{MediaImage, "image", whatsmeow.MediaImage, event.EventMessage, event.MsgImage, "image/jpeg", "image.jpg"},
		{MediaVideo, "video", whatsmeow.MediaVideo, event.EventMessage, event.MsgVideo, "video/mp4", "video.mp4"},
		{MediaAudio, "audio", whatsmeow.MediaAudio, event.EventMessage, event.MsgAudio, "audio/mp4", "audio.m4a"},
		{MediaVoice, "voice message", whatsmeow.MediaAudio, event.EventMessage, event.MsgAudio, "audio/ogg; codecs=opus", "voice.ogg"},
		{MediaDocument, "document", whatsmeow.MediaDocument, event.EventMessage, event.MsgFile, "application/x-unknown-thing", "file"},
		{MediaSticker, "sticker", whatsmeow.MediaImage, event.EventSticker, "", "image/webp", "sticker.webp"},
		{0, "MediaKind(0)", whatsmeow.MediaDocument, event.EventMessage, event.MsgFile, "", "MediaKind(0)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.name {
			t.Errorf("%d: String() = %q, want %q", int(tt.kind), got, tt.name)
		}
		if got := tt.kind.WhatsAppType(); got != tt.waType {
			t.Errorf("%s: WhatsAppType() = %q, want %q", tt.name, got, tt.waType)
		}
		if got := tt.kind.MatrixEventType(); got != tt.evtType {
			t.Errorf("%s: MatrixEventType() = %s, want %s", tt.name, got.Type, tt.evtType.Type)
		}
		if got := tt.kind.MatrixMsgType(); got != tt.msgType {
			t.Errorf("%s: MatrixMsgType() = %q, want %q", tt.name, got, tt.msgType)
		}
		if got := tt.kind.DefaultFileName(tt.mimeType); got != tt.fileName {
			t.Errorf("%s: DefaultFileName(%q) = %q, want %q", tt.name, tt.mimeType, got, tt.fileName)
		}
	}
}

func TestWAMediaOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		msg      *waE2E.Message
		kind     string
		msgType  event.MessageType
		evtType  event.Type
		fileName string
	}{
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("hi")}}, "image", event.MsgImage, event.EventMessage, "image.jpg"},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4")}}, "video", event.MsgVideo, event.EventMessage, "video.mp4"},
		{"audio", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{Mimetype: proto.String("audio/mpeg")}}, "audio", event.MsgAudio, event.EventMessage, "audio.mp3"},
		{"voice", &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true), Mimetype: proto.String("audio/ogg; codecs=opus")}}, "voice message", event.MsgAudio, event.EventMessage, "voice.ogg"},
		{"document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{FileName: proto.String("a.pdf")}}, "document", event.MsgFile, event.EventMessage, "a.pdf"},
		{"untitled document", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Mimetype: proto.String("application/pdf")}}, "document", event.MsgFile, event.EventMessage, "file.pdf"},
		{"sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp")}}, "sticker", "", event.EventSticker, "sticker.webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := waMediaOf(tt.msg)
			if m == nil {
				t.Fatal("not recognised as media")
			}
			if m.kind.String() != tt.kind || m.kind.MatrixMsgType() != tt.msgType || m.kind.MatrixEventType() != tt.evtType {
				t.Errorf("got kind %q, msgtype %q, event type %s", m.kind, m.kind.MatrixMsgType(), m.kind.MatrixEventType().Type)
			}
			if got := MessageKind(tt.msg); got != tt.kind {
				t.Errorf("MessageKind = %q, want %q", got, tt.kind)
			}
			mimeType := m.mimeType
			if mimeType == "" {
				mimeType = "image/jpeg"
			}
			name := m.fileName
			if name == "" {
				name = m.kind.DefaultFileName(mimeType)
			}
			if name != tt.fileName {
				t.Errorf("file name = %q, want %q", name, tt.fileName)
			}
		})
	}
	if waMediaOf(&waE2E.Message{Conversation: proto.String("text")}) != nil {
		t.Error("a text message was taken for media")
	}
}

func TestMatrixMediaKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		evtType event.Type
		content *event.MessageEventContent
		kind    string
		media   whatsmeow.MediaType
	}{
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgImage}, "image", whatsmeow.MediaImage},
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgVideo}, "video", whatsmeow.MediaVideo},
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgAudio}, "audio", whatsmeow.MediaAudio},
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgAudio, MSC3245Voice: &event.MSC3245Voice{}}, "voice message", whatsmeow.MediaAudio},
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgFile}, "document", whatsmeow.MediaDocument},
		{event.EventSticker, &event.MessageEventContent{}, "sticker", whatsmeow.MediaImage},
	}
	for _, tt := range tests {
		if !IsMatrixMedia(tt.evtType, tt.content) {
			t.Errorf("%s %s not recognised as media", tt.evtType.Type, tt.content.MsgType)
		}
		kind := MatrixMediaKind(tt.evtType, tt.content)
		if kind.String() != tt.kind || kind.WhatsAppType() != tt.media {
			t.Errorf("%s %s: kind %q (%s), want %q (%s)", tt.evtType.Type, tt.content.MsgType, kind, kind.WhatsAppType(), tt.kind, tt.media)
		}
	}
	if IsMatrixMedia(event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText}) {
		t.Error("a text message was taken for media")
	}
}
