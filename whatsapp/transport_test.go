package whatsapp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

var errTooLarge = errors.New("too large")

// TestMediaClientBoundsResponses: the media client reads a file of exactly the limit, and fails a
// larger one with the caller's error, whether the server announces the size or not.
func TestMediaClientBoundsResponses(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if r.URL.Query().Get("announce") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		} else {
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
		_, _ = io.WriteString(w, strings.Repeat("x", size))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, dial := range []string{"", addr} {
		_, media, err := Transport(config.WhatsAppConfig{DialAddress: dial, PlainHTTP: dial != ""}, MediaLimit{Bytes: limit, Err: errTooLarge})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			size     int
			announce string
			tooLarge bool
		}{{limit, "1", false}, {limit, "0", false}, {limit + 1, "1", true}, {limit + 1, "0", true}, {50 * limit, "0", true}} {
			resp, err := media.Get(srv.URL + "/?size=" + strconv.Itoa(tc.size) + "&announce=" + tc.announce)
			var data []byte
			if err == nil {
				data, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			if tc.tooLarge && !errors.Is(err, errTooLarge) {
				t.Errorf("dial %q, %d bytes (announced %s): err %v, read %d bytes, want the too-large error", dial, tc.size, tc.announce, err, len(data))
			} else if !tc.tooLarge && (err != nil || len(data) != tc.size) {
				t.Errorf("dial %q, %d bytes (announced %s): err %v, read %d bytes", dial, tc.size, tc.announce, err, len(data))
			}
		}
	}
}
