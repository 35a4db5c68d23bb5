package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// maxPictureSize bounds profile picture downloads.
const maxPictureSize = 5 << 20

// Picture is a user's or group's profile picture as WhatsApp describes it.
type Picture struct {
	// ID is WhatsApp's ID of the picture; "" means there is no picture (or it is hidden from this
	// account).
	ID string
	// Fetch downloads the picture; nil when ID is "".
	Fetch func(ctx context.Context) ([]byte, error)
}

// Picture looks up the picture of a user or group through this login's connection. It returns nil
// (and no error) when the picture is unchanged since existingID or the login has no client, a
// Picture with an empty ID when there is none, else the current picture with a way to download it.
func (l *Login) Picture(ctx context.Context, jid types.JID, existingID string) (*Picture, error) {
	cli := l.Client()
	if cli == nil {
		return nil, nil
	}
	info, err := cli.GetProfilePictureInfo(ctx, jid, &whatsmeow.GetProfilePictureParams{ExistingID: existingID})
	switch {
	case errors.Is(err, whatsmeow.ErrProfilePictureNotSet), errors.Is(err, whatsmeow.ErrProfilePictureUnauthorized):
		return &Picture{}, nil
	case err != nil:
		return nil, fmt.Errorf("failed to get picture of %s: %w", jid, err)
	case info == nil:
		return nil, nil
	}
	httpClient := l.opts.Media
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Picture{ID: info.ID, Fetch: func(ctx context.Context) ([]byte, error) {
		return download(ctx, httpClient, info.URL)
	}}, nil
}

// download fetches a picture URL, at most maxPictureSize bytes of it.
func download(ctx context.Context, httpClient *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to prepare picture download: %w", err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to download picture: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("picture download answered %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxPictureSize))
}
