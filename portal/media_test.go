package portal

import (
	"errors"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

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
			if m.kind != tt.kind || m.msgType != tt.msgType || m.evtType != tt.evtType {
				t.Errorf("got kind %q, msgtype %q, event type %s", m.kind, m.msgType, m.evtType.Type)
			}
			mimeType := m.mimeType
			if mimeType == "" {
				mimeType = "image/jpeg"
			}
			name := m.fileName
			if name == "" {
				name = defaultFileName(m, mimeType)
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

func TestDownloadFailureReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("wrapped: %w", whatsmeow.ErrMediaDownloadFailedWith410), "media is no longer available on WhatsApp"},
		{whatsmeow.ErrMediaDownloadFailedWith404, "media is no longer available on WhatsApp"},
		{whatsmeow.ErrInvalidMediaHMAC, "the file from WhatsApp is corrupt"},
		{whatsmeow.ErrNoURLPresent, "the message has no downloadable file"},
		{errors.New("connection reset"), ""},
	}
	for _, tt := range tests {
		if got := downloadFailureReason(tt.err); got != tt.want {
			t.Errorf("downloadFailureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
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
		if !isMatrixMedia(tt.evtType, tt.content) {
			t.Errorf("%s %s not recognised as media", tt.evtType.Type, tt.content.MsgType)
		}
		kind := matrixMediaKind(tt.evtType, tt.content)
		if kind != tt.kind || whatsAppMediaType(kind) != tt.media {
			t.Errorf("%s %s: kind %q (%s), want %q (%s)", tt.evtType.Type, tt.content.MsgType, kind, whatsAppMediaType(kind), tt.kind, tt.media)
		}
	}
	if isMatrixMedia(event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText}) {
		t.Error("a text message was taken for media")
	}
}

func TestBuildWAMediaMessage(t *testing.T) {
	t.Parallel()
	up := whatsmeow.UploadResponse{URL: "https://mmg/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: 42}
	voice := &event.MessageEventContent{MsgType: event.MsgAudio, Body: "voice.ogg", MSC1767Audio: &event.MSC1767Audio{Duration: 2500}}
	msg := buildWAMediaMessage("voice message", up, "audio/ogg", "", voice, nil)
	if a := msg.GetAudioMessage(); !a.GetPTT() || a.GetSeconds() != 3 || a.GetFileLength() != 42 || a.GetDirectPath() != "/x" {
		t.Errorf("voice message = %v", a)
	}
	file := &event.MessageEventContent{MsgType: event.MsgFile, Body: "see attached", FileName: "a.txt"}
	msg = buildWAMediaMessage("document", up, "text/plain", "see attached", file, nil)
	if d := msg.GetDocumentMessage(); d.GetFileName() != "a.txt" || d.GetCaption() != "see attached" || string(d.GetMediaKey()) != "\x01" {
		t.Errorf("document message = %v", d)
	}
}

func TestScaleWaveform(t *testing.T) {
	t.Parallel()
	got := scaleWaveform([]byte{0, 50, 100, 255})
	want := []int{0, 512, 1024, 1024}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scaleWaveform = %v, want %v", got, want)
	}
}
