package wasim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// MediaHost is the hostname the media_conn IQ hands out. Clients reach it through the HTTP client
// the simulator configured (URL rewriting or a dialer to Addr); the TLS certificate covers it.
const MediaHost = "mmg.whatsapp.net"

// maxMediaSize bounds one upload. WhatsApp allows 2 GB documents; tests need far less.
const maxMediaSize = 256 << 20

// mediaPathPrefixes are the direct path prefixes WhatsApp uses per upload type.
var mediaPathPrefixes = map[string]string{
	"image":          "/v/t62.7118-24/",
	"video":          "/v/t62.7161-24/",
	"audio":          "/v/t62.7117-24/",
	"ptt":            "/v/t62.7117-24/",
	"document":       "/v/t62.7119-24/",
	"sticker":        "/v/t62.15575-24/",
	"sticker-pack":   "/v/t62.15575-24/",
	"thumbnail-link": "/v/t62.36144-24/",
	"md-msg-hist":    "/v/t62.36145-24/",
	"md-app-state":   "/v/t62.15575-24/",
}

// mediaStore keeps uploaded media blobs (opaque ciphertext) for the server's whole life, so they
// survive Restart. The server never sees media keys.
type mediaStore struct {
	lock  sync.Mutex
	blobs map[string]*mediaBlob // by direct path without query
	auth  string
}

type mediaBlob struct {
	data      []byte
	encSHA256 [32]byte
	mmsType   string
	expired   bool
	snapshot  bool // an app state snapshot the server published (appstate_iq.go)
}

func newMediaStore(rootPriv []byte) *mediaStore {
	// The auth token is derived from the root key so that a client holding a cached media_conn
	// keeps working when a standalone simulator restarts with the same root key file.
	sum := sha256.Sum256(append([]byte("wasim media auth\x00"), rootPriv...))
	return &mediaStore{blobs: make(map[string]*mediaBlob), auth: base64.RawURLEncoding.EncodeToString(sum[:24])}
}

// addRoutes registers the media endpoints and the control API on the server's mux.
func (s *Server) addRoutes() {
	s.media = newMediaStore(s.root.Priv[:])
	s.mux.HandleFunc("/mms/", s.handleMediaUpload)
	s.mux.HandleFunc("/v/", s.handleMediaDownload)
	s.mux.HandleFunc("/pps/", s.handlePictureDownload) // picture.go
	s.mux.Handle(ControlPrefix, s.ControlHandler())
}

// handleMediaConnIQ answers <iq xmlns="w:m"><media_conn/></iq> with the simulator as the only host.
func (c *conn) handleMediaConnIQ(node *waBinary.Node, child *waBinary.Node) {
	if child.Tag != "media_conn" {
		c.send(iqError(node, 501, "feature-not-implemented"))
		return
	}
	c.send(iqResult(node, waBinary.Node{
		Tag: "media_conn",
		Attrs: waBinary.Attrs{
			"auth": c.srv.media.auth, "ttl": "3600", "auth_ttl": "21600", "max_buckets": "12",
		},
		Content: []waBinary.Node{{Tag: "host", Attrs: waBinary.Attrs{"hostname": MediaHost}}},
	}))
}

func (s *Server) mediaRefused(w http.ResponseWriter) bool {
	s.stateLock.Lock()
	refuse := s.outage || s.closed
	s.stateLock.Unlock()
	if refuse {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	}
	return refuse
}

// handleMediaUpload stores an encrypted upload: POST /mms/<type>/<token>?auth=…&token=…, where
// token is the base64url SHA-256 of the body. It answers {"url", "direct_path", "handle",
// "object_id"} like WhatsApp. DELETE on the same path (whatsmeow's DeleteMedia) forgets the blob.
func (s *Server) handleMediaUpload(w http.ResponseWriter, r *http.Request) {
	if s.mediaRefused(w) {
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/mms/"), "/")
	if len(parts) != 2 || mediaPathPrefixes[parts[0]] == "" {
		http.Error(w, "unknown media type", http.StatusNotFound)
		return
	}
	mmsType, token := parts[0], parts[1]
	if r.URL.Query().Get("auth") != s.media.auth {
		http.Error(w, "bad auth", http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodDelete:
		s.deleteMedia(w, r)
		return
	case http.MethodPost:
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMediaSize))
	if err != nil {
		http.Error(w, "upload too large or interrupted", http.StatusRequestEntityTooLarge)
		return
	}
	hash := sha256.Sum256(data)
	if base64.URLEncoding.EncodeToString(hash[:]) != token || r.URL.Query().Get("token") != token {
		http.Error(w, "token does not match the uploaded data", http.StatusBadRequest)
		return
	}
	directPath, key := newDirectPath(mmsType)
	s.media.lock.Lock()
	s.media.blobs[key] = &mediaBlob{data: data, encSHA256: hash, mmsType: mmsType}
	s.media.lock.Unlock()
	s.log.Debug().Str("mms_type", mmsType).Int("size", len(data)).Str("direct_path", key).Msg("Media uploaded")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"url":         "https://" + MediaHost + directPath + "&mms3=true",
		"direct_path": directPath,
		"handle":      randomHex(16),
		"object_id":   randomHex(8),
	})
}

func (s *Server) deleteMedia(w http.ResponseWriter, r *http.Request) {
	raw, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("d_md"))
	if err != nil || len(raw) == 0 {
		http.Error(w, "missing d_md", http.StatusBadRequest)
		return
	}
	s.media.lock.Lock()
	_, ok := s.media.blobs[string(raw)]
	delete(s.media.blobs, string(raw))
	s.media.lock.Unlock()
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleMediaDownload serves a blob by direct path (GET <direct_path>&hash=…&mms-type=…) or by the
// full URL the upload returned. Unknown paths get 404, expired ones 410, a hash that does not
// match the blob 404.
func (s *Server) handleMediaDownload(w http.ResponseWriter, r *http.Request) {
	if s.mediaRefused(w) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.media.lock.Lock()
	blob := s.media.blobs[r.URL.Path]
	s.media.lock.Unlock()
	if blob == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	} else if blob.expired {
		http.Error(w, "gone", http.StatusGone)
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" && hash != base64.URLEncoding.EncodeToString(blob.encSHA256[:]) {
		http.Error(w, "hash mismatch", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(blob.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(blob.data)
	}
}

// newDirectPath makes a WhatsApp-shaped direct path: it always contains a '?' because whatsmeow
// appends "&hash=…" to it. key is the path without the query, under which the blob is stored.
func newDirectPath(mmsType string) (directPath, key string) {
	key = mediaPathPrefixes[mmsType] + randomDigits(8) + "_" + randomDigits(15) + "_n.enc"
	expiry := time.Now().Add(30 * 24 * time.Hour).Unix()
	return fmt.Sprintf("%s?ccb=11-4&oh=01_%s&oe=%X&_nc_sid=5e03e0", key, randomHex(20), expiry), key
}

// MediaCount is the number of media blobs clients uploaded that the server holds (app state
// snapshots the server made itself are not counted).
func (s *Server) MediaCount() int {
	s.media.lock.Lock()
	defer s.media.lock.Unlock()
	n := 0
	for _, blob := range s.media.blobs {
		if !blob.snapshot {
			n++
		}
	}
	return n
}

// ExpireMedia makes a stored blob answer 410 Gone from now on, as WhatsApp does for old media.
// directPath may carry its query. It returns ErrNoSuchMedia if no blob has that path.
func (s *Server) ExpireMedia(directPath string) error {
	key := mediaKeyOf(directPath)
	s.media.lock.Lock()
	defer s.media.lock.Unlock()
	blob := s.media.blobs[key]
	if blob == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchMedia, key)
	}
	blob.expired = true
	return nil
}

// mediaKeyOf turns a direct path or URL into the key its blob is stored under.
func mediaKeyOf(directPath string) string {
	key, _, _ := strings.Cut(directPath, "?")
	return strings.TrimPrefix(key, "https://"+MediaHost)
}

// ErrNoSuchMedia means no uploaded media has the given direct path.
var ErrNoSuchMedia = errors.New("no such media")

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func randomDigits(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i := range buf {
		buf[i] = '0' + buf[i]%10
	}
	if buf[0] == '0' {
		buf[0] = '1'
	}
	return string(buf)
}
