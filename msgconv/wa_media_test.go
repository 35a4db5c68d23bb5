package msgconv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestFromWhatsAppMedia(t *testing.T) {
	t.Parallel()
	jpeg := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	tests := []struct {
		name        string
		msg         *waE2E.Message
		data        []byte
		evtType     event.Type
		msgType     event.MessageType
		body        string // the caption, or the file name
		fileName    string // set only with a caption
		html        string
		mimeType    string
		width       int
		duration    int
		waveform    []int
		userIDs     []id.UserID
		replyTo     id.EventID
		uploadName  string
		uploadMime  string
		wantVoice   bool
		wantCaption bool
	}{
		{name: "image with caption", data: jpeg, msg: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Mimetype: proto.String("image/jpeg"), Caption: proto.String("look @4915112345678"), Width: proto.Uint32(640),
			ContextInfo: replyInfo(quotedWAID, bob.jid.String())}},
			evtType: event.EventMessage, msgType: event.MsgImage, body: "look Bob", fileName: "image.jpg",
			html: "look " + pill(bob), mimeType: "image/jpeg", width: 640, userIDs: []id.UserID{bob.userID},
			replyTo: quotedEventID, uploadName: "image.jpg", uploadMime: "image/jpeg", wantCaption: true},
		{name: "image without mime type", data: pngData, msg: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{}},
			evtType: event.EventMessage, msgType: event.MsgImage, body: "image.png", mimeType: "image/png",
			uploadName: "image.png", uploadMime: "image/png"},
		{name: "video", data: jpeg, msg: &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4"), Seconds: proto.Uint32(7)}},
			evtType: event.EventMessage, msgType: event.MsgVideo, body: "video.mp4", mimeType: "video/mp4", duration: 7000,
			uploadName: "video.mp4", uploadMime: "video/mp4"},
		{name: "audio", data: jpeg, msg: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{Mimetype: proto.String("audio/mpeg"), Seconds: proto.Uint32(3)}},
			evtType: event.EventMessage, msgType: event.MsgAudio, body: "audio.mp3", mimeType: "audio/mpeg", duration: 3000,
			uploadName: "audio.mp3", uploadMime: "audio/mpeg"},
		{name: "voice", data: jpeg, msg: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true),
			Mimetype: proto.String("audio/ogg; codecs=opus"), Seconds: proto.Uint32(2), Waveform: []byte{0, 50, 100}}},
			evtType: event.EventMessage, msgType: event.MsgAudio, body: "voice.ogg", mimeType: "audio/ogg; codecs=opus",
			duration: 2000, waveform: []int{0, 512, 1024}, uploadName: "voice.ogg", uploadMime: "audio/ogg; codecs=opus", wantVoice: true},
		{name: "document", data: jpeg, msg: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			Mimetype: proto.String("application/pdf"), FileName: proto.String("report.pdf"), Caption: proto.String("the report")}},
			evtType: event.EventMessage, msgType: event.MsgFile, body: "the report", fileName: "report.pdf", mimeType: "application/pdf",
			uploadName: "report.pdf", uploadMime: "application/pdf", wantCaption: true},
		{name: "document named by title", data: jpeg, msg: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			Mimetype: proto.String("text/plain"), Title: proto.String("notes.txt")}},
			evtType: event.EventMessage, msgType: event.MsgFile, body: "notes.txt", mimeType: "text/plain",
			uploadName: "notes.txt", uploadMime: "text/plain"},
		{name: "untitled document", data: jpeg, msg: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Mimetype: proto.String("application/pdf")}},
			evtType: event.EventMessage, msgType: event.MsgFile, body: "file.pdf", mimeType: "application/pdf",
			uploadName: "file.pdf", uploadMime: "application/pdf"},
		{name: "sticker", data: jpeg, msg: &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp"), Width: proto.Uint32(512)}},
			evtType: event.EventSticker, msgType: "", body: "Sticker", mimeType: "image/webp", width: 512,
			uploadName: "sticker.webp", uploadMime: "image/webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa, mx := &fakeWhatsApp{data: tt.data}, &fakeMatrix{}
			conv := &FromWhatsApp{WhatsApp: wa, Matrix: mx, Mentions: &testResolver{}, QuotedEvent: fakeQuotedEvent}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			part := converted.Parts[0]
			c := part.Content
			if part.Type != tt.evtType || c.MsgType != tt.msgType || c.Body != tt.body || c.FileName != tt.fileName || c.FormattedBody != tt.html {
				t.Errorf("got %s %q body %q file %q html %q", part.Type.Type, c.MsgType, c.Body, c.FileName, c.FormattedBody)
			}
			if len(mx.uploads) != 1 || string(mx.uploads[0].data) != string(tt.data) ||
				mx.uploads[0].fileName != tt.uploadName || mx.uploads[0].mimeType != tt.uploadMime {
				t.Fatalf("uploads = %+v, want %q as %s", mx.uploads, tt.uploadName, tt.uploadMime)
			}
			if c.URL != "mxc://example.org/upload1" {
				t.Errorf("url = %q", c.URL)
			}
			if c.Info == nil || c.Info.MimeType != tt.mimeType || c.Info.Size != len(tt.data) || c.Info.Width != tt.width || c.Info.Duration != tt.duration {
				t.Errorf("info = %+v", c.Info)
			}
			if (c.MSC3245Voice != nil) != tt.wantVoice || (tt.wantVoice && !slices.Equal(c.MSC1767Audio.Waveform, tt.waveform)) {
				t.Errorf("voice = %v, audio = %+v", c.MSC3245Voice, c.MSC1767Audio)
			}
			if tt.wantCaption && (c.Mentions == nil || !slices.Equal(c.Mentions.UserIDs, tt.userIDs)) {
				t.Errorf("m.mentions = %v, want %v", c.Mentions, tt.userIDs)
			}
			if got := c.RelatesTo.GetReplyTo(); got != tt.replyTo {
				t.Errorf("reply to %q, want %q", got, tt.replyTo)
			}
		})
	}
}

func TestFromWhatsAppMediaFailures(t *testing.T) {
	t.Parallel()
	video := func(length uint64, ctxInfo *waE2E.ContextInfo) *waE2E.Message {
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4"), FileLength: proto.Uint64(length), ContextInfo: ctxInfo}}
	}
	transient := errors.New("connection reset")
	tests := []struct {
		name      string
		msg       *waE2E.Message
		wa        *fakeWhatsApp // nil: no connection
		mx        *fakeMatrix
		notice    string // the notice expected instead of the video
		err       error  // the error expected instead (errors.Is)
		downloads int
		replyTo   id.EventID
		expired   bool // the notice is marked MediaExpired: the phone can be asked for the file
	}{
		{name: "gone (410)", msg: video(10, replyInfo(quotedWAID)), wa: &fakeWhatsApp{downloadErr: fmt.Errorf("wrapped: %w", whatsmeow.ErrMediaDownloadFailedWith410)},
			notice: "Failed to bridge video: media is no longer available on WhatsApp", downloads: 1, replyTo: quotedEventID, expired: true},
		{name: "gone (404)", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: whatsmeow.ErrMediaDownloadFailedWith404},
			notice: "Failed to bridge video: media is no longer available on WhatsApp", downloads: 1, expired: true},
		{name: "gone while disconnecting", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: fmt.Errorf("%w: %w", ErrNotConnected, whatsmeow.ErrMediaDownloadFailedWith404)},
			notice: "Failed to bridge video: media is no longer available on WhatsApp", downloads: 1, expired: true},
		{name: "corrupt", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: whatsmeow.ErrInvalidMediaHMAC},
			notice: "Failed to bridge video: the file from WhatsApp is corrupt", downloads: 1},
		{name: "no url", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: whatsmeow.ErrNoURLPresent},
			notice: "Failed to bridge video: the message has no downloadable file", downloads: 1},
		{name: "declared too large", msg: video(MaxMediaSize+1, nil), wa: &fakeWhatsApp{},
			notice: "Failed to bridge video: the file is too large (100.0 MB, the limit is 100 MB)"},
		{name: "too large for the homeserver", msg: video(10, nil), wa: &fakeWhatsApp{data: []byte("x")},
			mx:     &fakeMatrix{uploadErr: fmt.Errorf("%w: M_TOO_LARGE", ErrMediaTooLarge)},
			notice: "Failed to bridge video: the file is too large for the Matrix server", downloads: 1},
		{name: "not connected", msg: video(10, nil), err: ErrNotConnected},
		{name: "connection lost", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: fmt.Errorf("%w: %w", ErrNotConnected, transient)},
			err: ErrNotConnected, downloads: 1},
		{name: "transient download failure", msg: video(10, nil), wa: &fakeWhatsApp{downloadErr: transient}, err: transient, downloads: 1},
		{name: "transient upload failure", msg: video(10, nil), wa: &fakeWhatsApp{data: []byte("x")}, mx: &fakeMatrix{uploadErr: transient},
			err: transient, downloads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{QuotedEvent: fakeQuotedEvent, Matrix: &fakeMatrix{}}
			if tt.wa != nil {
				conv.WhatsApp = tt.wa
			}
			if tt.mx != nil {
				conv.Matrix = tt.mx
			}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if tt.wa != nil && tt.wa.downloads != tt.downloads {
				t.Errorf("%d downloads, want %d", tt.wa.downloads, tt.downloads)
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			part := converted.Parts[0]
			if part.Type != event.EventMessage || part.Content.MsgType != event.MsgNotice || part.Content.Body != tt.notice {
				t.Errorf("got %s %s %q, want the notice %q", part.Type.Type, part.Content.MsgType, part.Content.Body, tt.notice)
			}
			if got := part.Content.RelatesTo.GetReplyTo(); got != tt.replyTo {
				t.Errorf("reply to %q, want %q", got, tt.replyTo)
			}
			if part.MediaExpired != tt.expired {
				t.Errorf("MediaExpired = %v, want %v", part.MediaExpired, tt.expired)
			}
		})
	}
}

// TestFromWhatsAppDownloadedTooLarge checks the size of what was downloaded, for files whose
// message understated it.
func TestFromWhatsAppDownloadedTooLarge(t *testing.T) {
	t.Parallel()
	mx := &fakeMatrix{}
	conv := &FromWhatsApp{WhatsApp: &fakeWhatsApp{data: make([]byte, MaxMediaSize+1)}, Matrix: mx}
	converted, err := conv.Convert(context.Background(), &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{FileLength: proto.Uint64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Failed to bridge document: the file is too large (100.0 MB, the limit is 100 MB)"
	if body := converted.Parts[0].Content.Body; body != want || len(mx.uploads) != 0 {
		t.Errorf("got %q after %d uploads, want %q and none", body, len(mx.uploads), want)
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
		{whatsmeow.ErrMediaDownloadFailedWith403, "media is no longer available on WhatsApp"},
		{whatsmeow.ErrInvalidMediaHMAC, "the file from WhatsApp is corrupt"},
		{whatsmeow.ErrTooShortFile, "the file from WhatsApp is corrupt"},
		{whatsmeow.ErrNoURLPresent, "the message has no downloadable file"},
		{errors.New("connection reset"), ""},
	}
	for _, tt := range tests {
		if got := downloadFailureReason(tt.err); got != tt.want {
			t.Errorf("downloadFailureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
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

// TestFromWhatsAppGIFAndAnimatedSticker: a WhatsApp GIF (an MP4 with gifPlayback) is a video marked
// to loop and play by itself, and an animated sticker is marked animated.
func TestFromWhatsAppGIFAndAnimatedSticker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  *waE2E.Message
		want map[string]any // file info keys
	}{
		{"gif", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4"), GifPlayback: proto.Bool(true)}},
			map[string]any{"fi.mau.gif": true, "fi.mau.loop": true, "fi.mau.autoplay": true, "fi.mau.hide_controls": true, "fi.mau.no_audio": true}},
		{"plain video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4")}},
			map[string]any{"fi.mau.gif": nil, "fi.mau.loop": nil}},
		{"animated sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp"), IsAnimated: proto.Bool(true)}},
			map[string]any{"is_animated": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conv := &FromWhatsApp{WhatsApp: &fakeWhatsApp{data: []byte("data")}, Matrix: &fakeMatrix{}}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(converted.Parts[0].EventContent())
			if err != nil {
				t.Fatal(err)
			}
			var content struct {
				Info map[string]any `json:"info"`
			}
			if err = json.Unmarshal(raw, &content); err != nil {
				t.Fatal(err)
			}
			for key, want := range tt.want {
				if got := content.Info[key]; got != want {
					t.Errorf("info %s = %v, want %v (%s)", key, got, want, raw)
				}
			}
		})
	}
}
