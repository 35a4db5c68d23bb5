package msgconv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// blankPNG returns a w x h PNG.
func blankPNG(t *testing.T, w, h int) []byte {
	return encodePNG(t, image.NewRGBA(image.Rect(0, 0, w, h)))
}

// lottieSticker is a Lottie sticker as WhatsApp's apps send it: the .was file, flagged animated and
// Lottie, with a still PNG (which may be nil).
func lottieSticker(still []byte) *waE2E.StickerMessage {
	return &waE2E.StickerMessage{
		Mimetype: proto.String("application/was"), Width: proto.Uint32(512), Height: proto.Uint32(512),
		IsAnimated: proto.Bool(true), IsLottie: proto.Bool(true), PngThumbnail: still,
		ContextInfo: replyInfo(quotedWAID, bob.jid.String()),
	}
}

func TestFromWhatsAppLottieSticker(t *testing.T) {
	t.Parallel()
	still := blankPNG(t, 96, 80)
	tests := []struct {
		name    string
		msg     *waE2E.Message
		encrypt bool
		wantPNG bool
	}{
		{name: "with still", msg: &waE2E.Message{StickerMessage: lottieSticker(still)}, wantPNG: true},
		{name: "with still, encrypted room", msg: &waE2E.Message{StickerMessage: lottieSticker(still)}, encrypt: true, wantPNG: true},
		{name: "still in a LottieStickerMessage wrapper", wantPNG: true, msg: &waE2E.Message{
			LottieStickerMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{StickerMessage: lottieSticker(still)}}}},
		{name: "only the mimetype says Lottie", wantPNG: true, msg: &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			Mimetype: proto.String("application/was"), PngThumbnail: still, ContextInfo: replyInfo(quotedWAID, bob.jid.String())}}},
		{name: "without still", msg: &waE2E.Message{StickerMessage: lottieSticker(nil)}},
		{name: "still that is no PNG", msg: &waE2E.Message{StickerMessage: lottieSticker([]byte("\xff\xd8\xff\xe0 jpeg"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := proto.Clone(tt.msg).(*waE2E.Message)
			wa, mx := &fakeWhatsApp{data: []byte("PK\x03\x04 a zip of Lottie JSON")}, &fakeMatrix{}
			conv := &FromWhatsApp{WhatsApp: wa, Matrix: mx, QuotedEvent: fakeQuotedEvent, EncryptMedia: tt.encrypt}
			converted, err := conv.Convert(context.Background(), msg)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if wa.downloads != 0 {
				t.Errorf("the .was file was downloaded %d times", wa.downloads)
			}
			if len(converted.Parts) != 1 {
				t.Fatalf("%d parts", len(converted.Parts))
			}
			part := converted.Parts[0]
			c := part.Content
			if got := c.RelatesTo.GetReplyTo(); got != quotedEventID {
				t.Errorf("reply to %q", got)
			}
			if !tt.wantPNG {
				if part.Type != event.EventMessage || c.MsgType != event.MsgNotice || c.Body != LottieStickerNotice || len(mx.uploads) != 0 {
					t.Errorf("got %s %q %q with %d uploads, want the notice", part.Type.Type, c.MsgType, c.Body, len(mx.uploads))
				}
				return
			}
			if part.Type != event.EventSticker || c.MsgType != "" || c.Body != LottieStickerBody {
				t.Errorf("got %s %q body %q", part.Type.Type, c.MsgType, c.Body)
			}
			if c.Info == nil || c.Info.MimeType != "image/png" || c.Info.Width != 96 || c.Info.Height != 80 || c.Info.Size != len(still) || c.Info.IsAnimated {
				t.Errorf("info = %+v", c.Info)
			}
			if len(mx.uploads) != 1 {
				t.Fatalf("%d uploads", len(mx.uploads))
			}
			uploaded := mx.uploads[0].data
			if tt.encrypt {
				if c.File == nil || c.URL != "" {
					t.Fatalf("encrypted room: file %v, url %q", c.File, c.URL)
				}
				// As the receiving client gets it: through the event's JSON.
				raw, err := json.Marshal(c.File)
				if err != nil {
					t.Fatal(err)
				}
				var file event.EncryptedFileInfo
				if err = json.Unmarshal(raw, &file); err != nil {
					t.Fatal(err)
				}
				uploaded = bytes.Clone(uploaded)
				if err = file.DecryptInPlace(uploaded); err != nil {
					t.Fatalf("decrypt: %v", err)
				}
			} else if c.URL != "mxc://example.org/upload1" || mx.uploads[0].mimeType != "image/png" {
				t.Errorf("url %q, uploaded as %q", c.URL, mx.uploads[0].mimeType)
			}
			if !bytes.Equal(uploaded, still) {
				t.Error("uploaded bytes are not the still PNG")
			}
			if !proto.Equal(msg, tt.msg) {
				t.Error("the WhatsApp message was changed")
			}
		})
	}
}

func TestFromWhatsAppLottieStickerUploadFailure(t *testing.T) {
	t.Parallel()
	msg := &waE2E.Message{StickerMessage: lottieSticker(blankPNG(t, 8, 8))}
	conv := &FromWhatsApp{WhatsApp: &fakeWhatsApp{}, Matrix: &fakeMatrix{uploadErr: errors.New("connection reset")}}
	if _, err := conv.Convert(context.Background(), msg); err == nil {
		t.Error("a transient upload failure was not returned")
	}
	conv.Matrix = &fakeMatrix{uploadErr: ErrMediaTooLarge}
	converted, err := conv.Convert(context.Background(), msg)
	if err != nil || converted.Parts[0].Content.MsgType != event.MsgNotice || converted.Parts[0].Content.Body != LottieStickerNotice {
		t.Errorf("too large: err %v, parts %+v", err, converted)
	}
}
