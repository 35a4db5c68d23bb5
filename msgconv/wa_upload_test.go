package msgconv

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// TestEncryptedMediaUpload: with EncryptMedia the attachment goes up as ciphertext and the event
// carries it as an encrypted file (no url) that decrypts to the original.
func TestEncryptedMediaUpload(t *testing.T) {
	t.Parallel()
	image := bytes.Repeat([]byte("\xff\xd8\xff\xe0 plain image "), 100)
	wa, mx := &fakeWhatsApp{data: bytes.Clone(image)}, &fakeMatrix{}
	conv := &FromWhatsApp{WhatsApp: wa, Matrix: mx, EncryptMedia: true}
	converted, err := conv.Convert(context.Background(), &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg")}})
	if err != nil {
		t.Fatal(err)
	}
	c := converted.Parts[0].Content
	if c.URL != "" || c.File == nil || c.File.URL != "mxc://example.org/upload1" {
		t.Fatalf("content url %q, file %+v; want only an encrypted file", c.URL, c.File)
	}
	if c.Info == nil || c.Info.MimeType != "image/jpeg" || c.Info.Size != len(image) {
		t.Errorf("info = %+v, want the plaintext's type and size", c.Info)
	}
	if len(mx.uploads) != 1 || mx.uploads[0].mimeType != "application/octet-stream" || bytes.Contains(mx.uploads[0].data, []byte("plain image")) {
		t.Fatalf("upload = %+v, want ciphertext as application/octet-stream", mx.uploads)
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
	data := bytes.Clone(mx.uploads[0].data)
	if err = file.DecryptInPlace(data); err != nil || !bytes.Equal(data, image) {
		t.Errorf("decrypting the upload: %v, equal %v", err, bytes.Equal(data, image))
	}
}
