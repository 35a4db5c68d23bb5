package portal

import (
	"context"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// Media I/O for msgconv: WhatsApp's media servers through a login's connection, the homeserver's
// media repository as a ghost (uploads) and as the bridge bot (downloads). Nothing is kept on disk.

// waMediaIO implements msgconv.WhatsAppMedia with one login's connection, reporting failures of a
// connection that went down as msgconv.ErrNotConnected.
type waMediaIO struct{ cli WAClient }

var _ msgconv.WhatsAppMedia = waMediaIO{}

// Download fetches and decrypts an attachment.
func (w waMediaIO) Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error) {
	data, err := w.cli.Download(ctx, msg)
	if err != nil && !w.cli.IsLoggedIn() {
		return nil, fmt.Errorf("%w: %w", msgconv.ErrNotConnected, err)
	}
	return data, err
}

// Upload encrypts and uploads an attachment.
func (w waMediaIO) Upload(ctx context.Context, data []byte, mediaType whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	up, err := w.cli.Upload(ctx, data, mediaType)
	if err != nil && (!w.cli.IsLoggedIn() || errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrIQDisconnected)) {
		return up, fmt.Errorf("%w: %w", msgconv.ErrNotConnected, err)
	}
	return up, err
}

// matrixMediaIO implements msgconv.MatrixMedia on the portal's Matrix: uploads as ghost (nil when
// only downloading), downloads as the bridge bot (Matrix.Download).
type matrixMediaIO struct {
	matrix Matrix
	ghost  *puppet.Puppet
}

var _ msgconv.MatrixMedia = matrixMediaIO{}

// matrixMedia returns the homeserver's media repository, uploading as ghost.
func (p *Portal) matrixMedia(ghost *puppet.Puppet) matrixMediaIO {
	return matrixMediaIO{matrix: p.m.matrix, ghost: ghost}
}

// Upload stores data as the ghost.
func (m matrixMediaIO) Upload(ctx context.Context, data []byte, mimeType, fileName string) (id.ContentURIString, error) {
	if m.ghost == nil {
		return "", errors.New("no ghost to upload as")
	}
	uri, err := m.matrix.Upload(ctx, m.ghost.MXID, data, mimeType, fileName)
	if errors.Is(err, mautrix.MTooLarge) {
		return "", fmt.Errorf("%w: %w", msgconv.ErrMediaTooLarge, err)
	} else if err != nil {
		return "", err
	}
	return uri.CUString(), nil
}

// Download fetches a file as the bridge bot.
func (m matrixMediaIO) Download(ctx context.Context, uri id.ContentURIString) ([]byte, error) {
	parsed, err := uri.Parse()
	if err != nil {
		return nil, fmt.Errorf("failed to parse %q: %w", uri, err)
	}
	data, err := m.matrix.Download(ctx, parsed)
	if errors.Is(err, mautrix.MNotFound) {
		return nil, fmt.Errorf("%w: %w", msgconv.ErrMediaNotFound, err)
	}
	return data, err
}
