package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/tesths"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// TestDownloadIsBounded: a Matrix attachment larger than the limit fails with ErrMediaTooLarge,
// whether the homeserver announces the size (Content-Length) or streams it without one, and the
// bridge stops reading at the limit; a file within the limit arrives whole.
func TestDownloadIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 1000
	// The streamed file is far larger than what loopback socket buffers absorb after the bridge
	// stopped reading.
	served := map[string]int{"small": limit, "announced": limit + 1, "streamed": 64 << 20}
	var read int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		size, ok := served[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name != "streamed" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		chunk := []byte(strings.Repeat("x", limit/10))
		if name == "streamed" {
			chunk = make([]byte, 64<<10)
		}
		for sent := 0; sent < size; sent += len(chunk) {
			n, err := w.Write(chunk[:min(len(chunk), size-sent)])
			if name == "streamed" {
				read += int64(n)
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	cfg := &config.Config{}
	cfg.Homeserver.Address, cfg.Homeserver.Domain = hs.URL, testDomain
	cfg.Appservice.ID, cfg.Appservice.Address = "whatsapp", "http://127.0.0.1:29318"
	cfg.Appservice.Bot.Username = testBot.Localpart()
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = testASToken, "hs-token-for-tests"
	cfg.Bridge.UsernameTemplate = "whatsapp_{{.}}"
	m := NewAppserviceMatrix(tesths.AppService(t, cfg, zerolog.Nop()))
	m.MaxDownload = limit
	ctx := context.Background()

	data, err := m.Download(ctx, id.ContentURI{Homeserver: testDomain, FileID: "small"})
	if err != nil || len(data) != limit {
		t.Fatalf("file of exactly the limit: %d bytes, %v; want %d bytes", len(data), err, limit)
	}
	for _, name := range []string{"announced", "streamed"} {
		_, err = m.Download(ctx, id.ContentURI{Homeserver: testDomain, FileID: name})
		if !errors.Is(err, msgconv.ErrMediaTooLarge) {
			t.Errorf("%s oversized file: error %v, want ErrMediaTooLarge", name, err)
		}
	}
	hs.Close() // waits for the handlers, so read is final
	if read >= int64(served["streamed"]) {
		t.Errorf("the bridge read the whole streamed file (%d bytes) instead of stopping at the limit", read)
	}
}
