package msgconv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const catURI = id.ContentURIString("mxc://example.org/cat")

func TestFromMatrixMedia(t *testing.T) {
	t.Parallel()
	webp := []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")
	tests := []struct {
		name    string
		evtType event.Type
		content *event.MessageEventContent
		data    []byte
		waType  whatsmeow.MediaType
		// check inspects the message; it returns a description of what is wrong, or "".
		check func(t *testing.T, c *FromMatrix, content *event.MessageEventContent) string
	}{
		{name: "image with caption and reply", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaImage,
			content: replyTo(&event.MessageEventContent{MsgType: event.MsgImage, Body: "look " + bob.name, FileName: "cat.png",
				Format: event.FormatHTML, FormattedBody: "look " + pill(bob), URL: catURI,
				Info: &event.FileInfo{MimeType: "image/png", Width: 640, Height: 480, Size: len(pngData)}}, quotedEventID)},
		{name: "image without info", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaImage,
			content: &event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.png", URL: catURI}},
		{name: "video", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaVideo,
			content: &event.MessageEventContent{MsgType: event.MsgVideo, Body: "clip.mp4", URL: catURI, Info: &event.FileInfo{MimeType: "video/mp4", Duration: 4001}}},
		{name: "gif video", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaVideo,
			content: &event.MessageEventContent{MsgType: event.MsgVideo, Body: "party.mp4", URL: catURI, Info: &event.FileInfo{MimeType: "video/mp4", MauGIF: true}}},
		{name: "looping video", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaVideo,
			content: &event.MessageEventContent{MsgType: event.MsgVideo, Body: "party.mp4", URL: catURI,
				Info: &event.FileInfo{MimeType: "video/mp4", Extra: map[string]any{"fi.mau.loop": true}}}},
		{name: "animated webp sticker", evtType: event.EventSticker, data: webp, waType: whatsmeow.MediaImage,
			content: &event.MessageEventContent{Body: "dance", URL: catURI, Info: &event.FileInfo{MimeType: "image/webp", IsAnimated: true}}},
		{name: "voice", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaAudio,
			content: &event.MessageEventContent{MsgType: event.MsgAudio, Body: "voice.ogg", URL: catURI, MSC3245Voice: &event.MSC3245Voice{},
				MSC1767Audio: &event.MSC1767Audio{Duration: 2500}, Info: &event.FileInfo{MimeType: "audio/ogg"}}},
		{name: "audio", evtType: event.EventMessage, data: pngData, waType: whatsmeow.MediaAudio,
			content: &event.MessageEventContent{MsgType: event.MsgAudio, Body: "song.mp3", URL: catURI, Info: &event.FileInfo{MimeType: "audio/mpeg"}}},
		{name: "document with caption", evtType: event.EventMessage, data: []byte("plain text"), waType: whatsmeow.MediaDocument,
			content: &event.MessageEventContent{MsgType: event.MsgFile, Body: "see attached", FileName: "a.txt", URL: catURI}},
		{name: "document without name", evtType: event.EventMessage, data: []byte("plain text"), waType: whatsmeow.MediaDocument,
			content: &event.MessageEventContent{MsgType: event.MsgFile, URL: catURI}},
		{name: "webp sticker", evtType: event.EventSticker, data: webp, waType: whatsmeow.MediaImage,
			content: &event.MessageEventContent{Body: "party", URL: catURI, Info: &event.FileInfo{MimeType: "image/webp", Width: 512}}},
		{name: "png sticker", evtType: event.EventSticker, data: pngData, waType: whatsmeow.MediaImage,
			content: &event.MessageEventContent{Body: "party", URL: catURI, Info: &event.FileInfo{MimeType: "image/png"}}},
	}
	want := map[string]string{
		"image with caption and reply": `image image/png "look @4915112345678" 640x480 mentions [4915112345678@s.whatsapp.net] quoted QUOTED`,
		"image without info":           `image image/png "" 0x0 mentions [] quoted `,
		"video":                        `video video/mp4 "" 5s gif=false`,
		"gif video":                    `video video/mp4 "" 0s gif=true`,
		"looping video":                `video video/mp4 "" 0s gif=true`,
		"animated webp sticker":        `sticker image/webp 0 animated=true`,
		"voice":                        `audio audio/ogg ptt=true 3s`,
		"audio":                        `audio audio/mpeg ptt=false 0s`,
		"document with caption":        `document text/plain; charset=utf-8 "see attached" a.txt`,
		"document without name":        `document text/plain; charset=utf-8 "" file`,
		"webp sticker":                 `sticker image/webp 512 animated=false`,
		"png sticker":                  `image image/png "" 0x0 mentions [] quoted `,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa, mx := &fakeWhatsApp{}, &fakeMatrix{files: map[id.ContentURIString][]byte{catURI: tt.data}}
			conv := &FromMatrix{Matrix: mx, WhatsApp: wa, Users: &testResolver{}, QuotedMessage: fakeQuotedMessage}
			msg, err := conv.Convert(context.Background(), tt.evtType, tt.content)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if string(wa.uploaded) != string(tt.data) || wa.uploadType != tt.waType {
				t.Errorf("uploaded %q as %s, want %q as %s", wa.uploaded, wa.uploadType, tt.data, tt.waType)
			}
			var got string
			switch {
			case msg.GetImageMessage() != nil:
				m := msg.GetImageMessage()
				got = fmt.Sprintf("image %s %q %dx%d mentions %v quoted %s", m.GetMimetype(), m.GetCaption(), m.GetWidth(), m.GetHeight(),
					m.GetContextInfo().GetMentionedJID(), m.GetContextInfo().GetStanzaID())
				if m.GetURL() != testUpload.URL || m.GetFileLength() != testUpload.FileLength || string(m.GetMediaKey()) != "\x01" {
					t.Errorf("media fields not from the upload: %v", m)
				}
			case msg.GetVideoMessage() != nil:
				m := msg.GetVideoMessage()
				got = fmt.Sprintf("video %s %q %ds gif=%v", m.GetMimetype(), m.GetCaption(), m.GetSeconds(), m.GetGifPlayback())
			case msg.GetAudioMessage() != nil:
				m := msg.GetAudioMessage()
				got = fmt.Sprintf("audio %s ptt=%v %ds", m.GetMimetype(), m.GetPTT(), m.GetSeconds())
			case msg.GetDocumentMessage() != nil:
				m := msg.GetDocumentMessage()
				got = fmt.Sprintf("document %s %q %s", m.GetMimetype(), m.GetCaption(), m.GetFileName())
				if m.GetTitle() != m.GetFileName() {
					t.Errorf("title %q differs from file name %q", m.GetTitle(), m.GetFileName())
				}
			case msg.GetStickerMessage() != nil:
				m := msg.GetStickerMessage()
				got = fmt.Sprintf("sticker %s %d animated=%v", m.GetMimetype(), m.GetWidth(), m.GetIsAnimated())
			}
			if got != want[tt.name] {
				t.Errorf("got  %s\nwant %s", got, want[tt.name])
			}
		})
	}
}

func TestFromMatrixEncryptedMedia(t *testing.T) {
	t.Parallel()
	plaintext := []byte("secret picture")
	ciphertext := slices.Clone(plaintext)
	sent := attachment.NewEncryptedFile()
	sent.EncryptInPlace(ciphertext)
	// The keys reach the bridge as JSON in the event, like any client's.
	raw, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var received attachment.EncryptedFile
	if err = json.Unmarshal(raw, &received); err != nil {
		t.Fatal(err)
	}
	const encURI = id.ContentURIString("mxc://example.org/encrypted")
	wa, mx := &fakeWhatsApp{}, &fakeMatrix{files: map[id.ContentURIString][]byte{encURI: ciphertext}}
	conv := &FromMatrix{Matrix: mx, WhatsApp: wa}
	content := &event.MessageEventContent{MsgType: event.MsgFile, Body: "secret.bin", File: &event.EncryptedFileInfo{EncryptedFile: received, URL: encURI}}
	if _, err = conv.Convert(context.Background(), event.EventMessage, content); err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if string(wa.uploaded) != string(plaintext) {
		t.Errorf("uploaded %q, want the decrypted %q", wa.uploaded, plaintext)
	}
	mx.files[encURI] = []byte("tampered ciphertext")
	_, err = conv.Convert(context.Background(), event.EventMessage, content)
	var perm PermanentError
	if !errors.As(err, &perm) || !strings.HasPrefix(err.Error(), "failed to decrypt the attachment") {
		t.Errorf("tampered file: err = %v, want a PermanentError", err)
	}
}

func TestFromMatrixMediaFailures(t *testing.T) {
	t.Parallel()
	transient := errors.New("connection reset")
	image := func(uri id.ContentURIString, size int) *event.MessageEventContent {
		return &event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.png", URL: uri, Info: &event.FileInfo{MimeType: "image/png", Size: size}}
	}
	tests := []struct {
		name      string
		content   *event.MessageEventContent
		wa        *fakeWhatsApp // nil: no connection
		mx        *fakeMatrix
		permanent string // the PermanentError's message, or "" for another error
		err       error  // for other errors: errors.Is
		downloads int
	}{
		{name: "declared too large", content: image(catURI, MaxMediaSize+1), wa: &fakeWhatsApp{},
			permanent: "cannot send image to WhatsApp: the file is too large (100.0 MB, the limit is 100 MB)"},
		{name: "declared too large while disconnected", content: image(catURI, MaxMediaSize+1),
			permanent: "cannot send image to WhatsApp: the file is too large (100.0 MB, the limit is 100 MB)"},
		{name: "not connected", content: image(catURI, 1), err: ErrNotConnected},
		{name: "not on the homeserver", content: image("mxc://example.org/gone", 1), wa: &fakeWhatsApp{},
			permanent: "the attachment mxc://example.org/gone is not on the Matrix server", downloads: 1},
		{name: "invalid url", content: image("https://example.org/cat.png", 1), wa: &fakeWhatsApp{},
			permanent: `the attachment has an invalid URL "https://example.org/cat.png"`},
		{name: "no url", content: image("", 1), wa: &fakeWhatsApp{}, permanent: "the attachment has no URL"},
		{name: "transient download failure", content: image(catURI, 1), wa: &fakeWhatsApp{}, mx: &fakeMatrix{downloadErr: transient},
			err: transient, downloads: 1},
		{name: "connection lost during upload", content: image(catURI, 1), wa: &fakeWhatsApp{uploadErr: fmt.Errorf("%w: %w", ErrNotConnected, transient)},
			err: ErrNotConnected, downloads: 1},
		{name: "transient upload failure", content: image(catURI, 1), wa: &fakeWhatsApp{uploadErr: transient}, err: transient, downloads: 1},
		{name: "quote lookup fails", content: replyTo(image(catURI, 1), "$broken"), wa: &fakeWhatsApp{}, downloads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mx := tt.mx
			if mx == nil {
				mx = &fakeMatrix{files: map[id.ContentURIString][]byte{catURI: pngData}}
			}
			conv := &FromMatrix{Matrix: mx, QuotedMessage: fakeQuotedMessage}
			if tt.wa != nil {
				conv.WhatsApp = tt.wa
			}
			_, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if len(mx.downloaded) != tt.downloads {
				t.Errorf("%d downloads, want %d", len(mx.downloaded), tt.downloads)
			}
			var perm PermanentError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.permanent != "":
				if !errors.As(err, &perm) || err.Error() != tt.permanent {
					t.Errorf("err = %v, want the PermanentError %q", err, tt.permanent)
				}
			case errors.As(err, &perm):
				t.Errorf("err = %v is permanent, want a transient one", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestBuildWAMediaMessage(t *testing.T) {
	t.Parallel()
	up := whatsmeow.UploadResponse{URL: "https://mmg/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: 42}
	voice := &event.MessageEventContent{MsgType: event.MsgAudio, Body: "voice.ogg", MSC1767Audio: &event.MSC1767Audio{Duration: 2500}}
	msg := buildWAMediaMessage(MediaVoice, up, "audio/ogg", "", voice, nil)
	if a := msg.GetAudioMessage(); !a.GetPTT() || a.GetSeconds() != 3 || a.GetFileLength() != 42 || a.GetDirectPath() != "/x" {
		t.Errorf("voice message = %v", a)
	}
	file := &event.MessageEventContent{MsgType: event.MsgFile, Body: "see attached", FileName: "a.txt"}
	msg = buildWAMediaMessage(MediaDocument, up, "text/plain", "see attached", file, nil)
	if d := msg.GetDocumentMessage(); d.GetFileName() != "a.txt" || d.GetCaption() != "see attached" || string(d.GetMediaKey()) != "\x01" {
		t.Errorf("document message = %v", d)
	}
}

// TestFromMatrixMediaOverWhatsAppLimit: a photo, video or voice message larger than WhatsApp's
// apps show goes as a document under its name, and the sender hears why; a document that large
// stays a document without a word.
func TestFromMatrixMediaOverWhatsAppLimit(t *testing.T) {
	t.Parallel()
	big := make([]byte, WhatsAppMediaLimit+1)
	copy(big, pngData)
	tests := []struct {
		name    string
		content *event.MessageEventContent
		note    string
	}{
		{"image", &event.MessageEventContent{MsgType: event.MsgImage, Body: "huge.png", URL: catURI, Info: &event.FileInfo{MimeType: "image/png"}},
			"Your image was sent to WhatsApp as a file"},
		{"video", &event.MessageEventContent{MsgType: event.MsgVideo, Body: "huge.mp4", URL: catURI, Info: &event.FileInfo{MimeType: "video/mp4"}},
			"Your video was sent to WhatsApp as a file"},
		{"voice", &event.MessageEventContent{MsgType: event.MsgAudio, Body: "huge.ogg", URL: catURI, MSC3245Voice: &event.MSC3245Voice{},
			Info: &event.FileInfo{MimeType: "audio/ogg"}}, "Your voice message was sent to WhatsApp as a file"},
		{"document", &event.MessageEventContent{MsgType: event.MsgFile, Body: "huge.bin", URL: catURI, Info: &event.FileInfo{MimeType: "application/octet-stream"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wa, mx := &fakeWhatsApp{}, &fakeMatrix{files: map[id.ContentURIString][]byte{catURI: big}}
			var notes []string
			conv := &FromMatrix{Matrix: mx, WhatsApp: wa, Users: &testResolver{}, Note: func(text string) { notes = append(notes, text) }}
			msg, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			doc := msg.GetDocumentMessage()
			if doc == nil || wa.uploadType != whatsmeow.MediaDocument || doc.GetFileName() != tt.content.Body || doc.GetMimetype() != tt.content.Info.MimeType {
				t.Fatalf("sent %v as %s, want a document named %s of type %s", msg, wa.uploadType, tt.content.Body, tt.content.Info.MimeType)
			}
			if tt.note == "" && len(notes) > 0 || tt.note != "" && (len(notes) != 1 || !strings.HasPrefix(notes[0], tt.note)) {
				t.Errorf("notes %q, want one starting %q", notes, tt.note)
			}
		})
	}
}
