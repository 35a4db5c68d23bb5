package msgconv

import (
	"context"

	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
)

// upload stores an attachment in the media repository and points content at it: content.URL for
// a plain upload, content.File for an encrypted one (EncryptMedia: the file is encrypted with a
// fresh AES-CTR key, uploaded as application/octet-stream, and the key, IV and hash travel in the
// encrypted event; data is encrypted in place). Errors are Matrix.Upload's.
func (c *FromWhatsApp) upload(ctx context.Context, content *event.MessageEventContent, data []byte, mimeType, fileName string) error {
	if !c.EncryptMedia {
		uri, err := c.Matrix.Upload(ctx, data, mimeType, fileName)
		content.URL = uri
		return err
	}
	file := attachment.NewEncryptedFile()
	file.EncryptInPlace(data)
	uri, err := c.Matrix.Upload(ctx, data, "application/octet-stream", "")
	if err != nil {
		return err
	}
	content.File = &event.EncryptedFileInfo{EncryptedFile: *file, URL: uri}
	return nil
}
