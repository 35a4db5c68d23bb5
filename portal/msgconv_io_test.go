package portal

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// mediaClient is a connection whose media calls fail with err while loggedIn says whether the
// connection is still up. Other methods are not used (and would panic).
type mediaClient struct {
	WAClient
	err      error
	loggedIn bool
}

func (c *mediaClient) Download(context.Context, whatsmeow.DownloadableMessage) ([]byte, error) {
	return nil, c.err
}

func (c *mediaClient) Upload(context.Context, []byte, whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	return whatsmeow.UploadResponse{}, c.err
}

func (c *mediaClient) IsLoggedIn() bool { return c.loggedIn }

func TestWAMediaIOReportsLostConnection(t *testing.T) {
	t.Parallel()
	reset := errors.New("connection reset")
	tests := []struct {
		name         string
		err          error
		loggedIn     bool
		downloadDown bool // Download's error wraps msgconv.ErrNotConnected
		uploadDown   bool // Upload's error wraps msgconv.ErrNotConnected
	}{
		{name: "transient failure", err: reset, loggedIn: true},
		{name: "logged out", err: reset, downloadDown: true, uploadDown: true},
		{name: "socket closed", err: fmt.Errorf("upload: %w", whatsmeow.ErrNotConnected), loggedIn: true, uploadDown: true},
		{name: "iq disconnected", err: whatsmeow.ErrIQDisconnected, loggedIn: true, uploadDown: true},
		{name: "gone while logged out", err: whatsmeow.ErrMediaDownloadFailedWith410, downloadDown: true, uploadDown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			media := waMediaIO{cli: &mediaClient{err: tt.err, loggedIn: tt.loggedIn}}
			_, err := media.Download(context.Background(), nil)
			if !errors.Is(err, tt.err) || errors.Is(err, msgconv.ErrNotConnected) != tt.downloadDown {
				t.Errorf("Download: err = %v, want %v (connection down: %v)", err, tt.err, tt.downloadDown)
			}
			_, err = media.Upload(context.Background(), nil, whatsmeow.MediaImage)
			if !errors.Is(err, tt.err) || errors.Is(err, msgconv.ErrNotConnected) != tt.uploadDown {
				t.Errorf("Upload: err = %v, want %v (connection down: %v)", err, tt.err, tt.uploadDown)
			}
		})
	}
}

func TestConversionError(t *testing.T) {
	t.Parallel()
	reset := errors.New("connection reset")
	if err := conversionError(nil); err != nil {
		t.Errorf("nil became %v", err)
	}
	if err := conversionError(fmt.Errorf("failed to upload image to WhatsApp: %w", fmt.Errorf("%w: %w", msgconv.ErrNotConnected, reset))); err != ErrNotConnected {
		t.Errorf("lost connection became %v, want ErrNotConnected", err)
	}
	var perm PermanentError
	err := conversionError(msgconv.PermanentError{Err: errors.New("the file is too large")})
	if !errors.As(err, &perm) || err.Error() != "the file is too large" {
		t.Errorf("permanent failure became %#v, want a PermanentError with the same message", err)
	}
	wrapped := fmt.Errorf("failed to download image: %w", reset)
	if err = conversionError(wrapped); err != wrapped {
		t.Errorf("transient failure became %v, want it unchanged", err)
	}
}
