package msgconv

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

// fakeWhatsApp is a WhatsApp media server: Download returns data (or downloadErr), Upload records
// what it got and answers with a fixed response (or uploadErr).
type fakeWhatsApp struct {
	data        []byte
	downloadErr error
	uploadErr   error

	downloads  int
	uploaded   []byte
	uploadType whatsmeow.MediaType
}

var testUpload = whatsmeow.UploadResponse{
	URL: "https://mmg.example/x", DirectPath: "/x", MediaKey: []byte{1}, FileEncSHA256: []byte{2},
	FileSHA256: []byte{3}, FileLength: 42,
}

func (f *fakeWhatsApp) Download(_ context.Context, _ whatsmeow.DownloadableMessage) ([]byte, error) {
	f.downloads++
	if f.downloadErr != nil {
		return nil, f.downloadErr
	}
	return f.data, nil
}

func (f *fakeWhatsApp) Upload(_ context.Context, data []byte, mediaType whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	if f.uploadErr != nil {
		return whatsmeow.UploadResponse{}, f.uploadErr
	}
	f.uploaded, f.uploadType = data, mediaType
	return testUpload, nil
}

// fakeMatrix is a media repository holding files by mxc:// URI.
type fakeMatrix struct {
	files       map[id.ContentURIString][]byte
	uploadErr   error
	downloadErr error

	uploads    []fakeUpload
	downloaded []id.ContentURIString
}

type fakeUpload struct {
	data     []byte
	mimeType string
	fileName string
}

func (f *fakeMatrix) Upload(_ context.Context, data []byte, mimeType, fileName string) (id.ContentURIString, error) {
	if f.uploadErr != nil {
		return "", f.uploadErr
	}
	f.uploads = append(f.uploads, fakeUpload{data, mimeType, fileName})
	uri := id.ContentURIString(fmt.Sprintf("mxc://example.org/upload%d", len(f.uploads)))
	if f.files == nil {
		f.files = make(map[id.ContentURIString][]byte)
	}
	f.files[uri] = data
	return uri, nil
}

func (f *fakeMatrix) Download(_ context.Context, uri id.ContentURIString) ([]byte, error) {
	f.downloaded = append(f.downloaded, uri)
	if f.downloadErr != nil {
		return nil, f.downloadErr
	}
	data, ok := f.files[uri]
	if !ok {
		return nil, fmt.Errorf("%w: M_NOT_FOUND", ErrMediaNotFound)
	}
	return slices.Clone(data), nil
}

var (
	_ WhatsAppMedia = (*fakeWhatsApp)(nil)
	_ MatrixMedia   = (*fakeMatrix)(nil)
)

// The message map the fakes below know: WhatsApp message "QUOTED" by Bob is Matrix event $quoted.
const (
	quotedWAID    = "QUOTED"
	quotedEventID = id.EventID("$quoted")
)

func fakeQuotedEvent(_ context.Context, waID types.MessageID) (id.EventID, error) {
	switch waID {
	case quotedWAID:
		return quotedEventID, nil
	case "BROKEN":
		return "", errors.New("database is down")
	}
	return "", nil
}

func fakeQuotedMessage(_ context.Context, eventID id.EventID) (QuotedMessage, bool, error) {
	switch eventID {
	case quotedEventID:
		return QuotedMessage{ID: quotedWAID, Sender: bob.jid}, true, nil
	case "$broken":
		return QuotedMessage{}, false, errors.New("database is down")
	}
	return QuotedMessage{}, false, nil
}

// pngData is the start of a PNG file, enough for content sniffing.
var pngData = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
