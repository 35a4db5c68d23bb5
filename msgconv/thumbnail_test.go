package msgconv

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testimage"
)

// jpegSize returns the size of a JPEG, or 0x0 when data is not one.
func jpegSize(data []byte) (int, int) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0
	}
	return cfg.Width, cfg.Height
}

func TestThumbnailSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ w, h, wantW, wantH int }{
		{300, 200, 100, 66}, {200, 300, 66, 100}, {100, 100, 100, 100}, {40, 30, 40, 30}, {5000, 10, 100, 1}, {1, 1, 1, 1},
	} {
		if w, h := thumbnailSize(tt.w, tt.h); w != tt.wantW || h != tt.wantH {
			t.Errorf("thumbnailSize(%d, %d) = %dx%d, want %dx%d", tt.w, tt.h, w, h, tt.wantW, tt.wantH)
		}
	}
}

func TestJPEGThumbnail(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		data         []byte
		wantW, wantH int // 0 for no thumbnail
	}{
		{"large png", testimage.Gradient(t, 300, 200, false), 100, 66},
		{"small jpeg keeps its size", testimage.Gradient(t, 40, 30, true), 40, 30},
		{"not an image", []byte("hello"), 0, 0},
		{"png header only", pngData, 0, 0},
	} {
		w, h := jpegSize(jpegThumbnail(tt.data))
		if w != tt.wantW || h != tt.wantH {
			t.Errorf("%s: thumbnail %dx%d, want %dx%d", tt.name, w, h, tt.wantW, tt.wantH)
		}
	}
}

// TestFromWhatsAppThumbnail: the inline JPEG of a WhatsApp image or video becomes the Matrix
// thumbnail (encrypted in encrypted rooms); one that is no JPEG is left out.
func TestFromWhatsAppThumbnail(t *testing.T) {
	t.Parallel()
	thumb := testimage.Gradient(t, 60, 40, true)
	for _, tt := range []struct {
		name    string
		msg     *waE2E.Message
		encrypt bool
		want    bool
	}{
		{"image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg"), JPEGThumbnail: bytes.Clone(thumb)}}, false, true},
		{"video", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Mimetype: proto.String("video/mp4"), JPEGThumbnail: bytes.Clone(thumb)}}, false, true},
		{"encrypted image", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg"), JPEGThumbnail: bytes.Clone(thumb)}}, true, true},
		{"image without thumbnail", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg")}}, false, false},
		{"thumbnail that is no jpeg", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg"), JPEGThumbnail: []byte("nope")}}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mx := &fakeMatrix{}
			conv := &FromWhatsApp{WhatsApp: &fakeWhatsApp{data: testimage.Gradient(t, 8, 8, true)}, Matrix: mx, EncryptMedia: tt.encrypt}
			converted, err := conv.Convert(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			info := converted.Parts[0].Content.Info
			if !tt.want {
				if info.ThumbnailURL != "" || info.ThumbnailFile != nil || info.ThumbnailInfo != nil || len(mx.uploads) != 1 {
					t.Fatalf("thumbnail %q %v %+v, %d uploads; want none", info.ThumbnailURL, info.ThumbnailFile, info.ThumbnailInfo, len(mx.uploads))
				}
				return
			}
			if len(mx.uploads) != 2 {
				t.Fatalf("%d uploads, want the file and its thumbnail", len(mx.uploads))
			}
			if ti := info.ThumbnailInfo; ti == nil || ti.MimeType != "image/jpeg" || ti.Width != 60 || ti.Height != 40 || ti.Size != len(thumb) {
				t.Errorf("thumbnail_info %+v, want a 60x40 JPEG of %d bytes", ti, len(thumb))
			}
			uploaded := mx.uploads[1].data
			if tt.encrypt {
				if info.ThumbnailFile == nil || info.ThumbnailURL != "" {
					t.Fatalf("encrypted room: thumbnail_file %v, thumbnail_url %q", info.ThumbnailFile, info.ThumbnailURL)
				}
				// A client reads the keys from the event's JSON.
				raw, err := json.Marshal(info.ThumbnailFile)
				if err != nil {
					t.Fatal(err)
				}
				var received event.EncryptedFileInfo
				if err = json.Unmarshal(raw, &received); err != nil {
					t.Fatal(err)
				}
				plain := bytes.Clone(uploaded)
				if err = received.DecryptInPlace(plain); err != nil || !bytes.Equal(plain, thumb) {
					t.Errorf("the encrypted thumbnail does not decrypt to WhatsApp's (%v)", err)
				}
				if got := tt.msg.GetImageMessage().GetJPEGThumbnail(); !bytes.Equal(got, thumb) {
					t.Error("encrypting the thumbnail changed the WhatsApp message")
				}
			} else if info.ThumbnailURL != "mxc://example.org/upload2" || !bytes.Equal(uploaded, thumb) {
				t.Errorf("thumbnail_url %q, uploaded %d bytes; want WhatsApp's thumbnail", info.ThumbnailURL, len(uploaded))
			}
		})
	}
}

// TestFromMatrixThumbnail: images and videos reach WhatsApp with a JPEG thumbnail of at most
// ThumbnailSide pixels: the event's thumbnail, else one made of the image; a video without a
// thumbnail goes without.
func TestFromMatrixThumbnail(t *testing.T) {
	t.Parallel()
	const fileURI, thumbURI, goneURI = id.ContentURIString("mxc://example.org/file"), id.ContentURIString("mxc://example.org/thumb"), id.ContentURIString("mxc://example.org/gone")
	for _, tt := range []struct {
		name         string
		content      *event.MessageEventContent
		file         []byte
		wantW, wantH int
	}{
		{"image without thumbnail", &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png", URL: fileURI}, testimage.Gradient(t, 300, 200, false), 100, 66},
		{"image with thumbnail", &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png", URL: fileURI,
			Info: &event.FileInfo{MimeType: "image/png", ThumbnailURL: thumbURI}}, testimage.Gradient(t, 300, 200, false), 50, 50},
		{"image whose thumbnail is gone", &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png", URL: fileURI,
			Info: &event.FileInfo{MimeType: "image/png", ThumbnailURL: goneURI}}, testimage.Gradient(t, 200, 300, false), 66, 100},
		{"video with thumbnail", &event.MessageEventContent{MsgType: event.MsgVideo, Body: "v.mp4", URL: fileURI,
			Info: &event.FileInfo{MimeType: "video/mp4", ThumbnailURL: thumbURI}}, []byte("not decoded"), 50, 50},
		{"video without thumbnail", &event.MessageEventContent{MsgType: event.MsgVideo, Body: "v.mp4", URL: fileURI,
			Info: &event.FileInfo{MimeType: "video/mp4"}}, []byte("not decoded"), 0, 0},
		{"image that is no picture", &event.MessageEventContent{MsgType: event.MsgImage, Body: "a.png", URL: fileURI,
			Info: &event.FileInfo{MimeType: "image/png"}}, pngData, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mx := &fakeMatrix{files: map[id.ContentURIString][]byte{fileURI: tt.file, thumbURI: testimage.Gradient(t, 50, 50, false)}}
			conv := &FromMatrix{Matrix: mx, WhatsApp: &fakeWhatsApp{}}
			msg, err := conv.Convert(context.Background(), event.EventMessage, tt.content)
			if err != nil {
				t.Fatal(err)
			}
			thumb := msg.GetImageMessage().GetJPEGThumbnail()
			if v := msg.GetVideoMessage(); v != nil {
				thumb = v.GetJPEGThumbnail()
			}
			if w, h := jpegSize(thumb); w != tt.wantW || h != tt.wantH || (tt.wantW == 0 && thumb != nil) {
				t.Errorf("JPEGThumbnail %dx%d (%d bytes), want %dx%d", w, h, len(thumb), tt.wantW, tt.wantH)
			}
		})
	}
}
