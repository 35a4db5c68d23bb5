package puppet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

const (
	testDomain  = "example.org"
	testASToken = "as-token-for-tests"
)

// fakeHS implements the few client-server endpoints that ghost intents call and counts the calls,
// keyed "METHOD what" (e.g. "PUT displayname").
type fakeHS struct {
	t   *testing.T
	srv *httptest.Server

	lock       sync.Mutex
	calls      map[string]int
	registered map[id.UserID]bool
	names      map[id.UserID]string
	avatars    map[id.UserID]string
	media      map[string][]byte
	// muted holds the users whose master push rule was enabled (and with what).
	muted map[id.UserID]bool
	// failNames makes that many display name PUTs fail with 403.
	failNames int
	// holdNames, when set, makes display name PUTs announce themselves on namesHeld and wait until
	// holdNames is closed before they take effect.
	holdNames, namesHeld chan struct{}
}

func newFakeHS(t *testing.T) *fakeHS {
	hs := &fakeHS{
		t: t, calls: map[string]int{}, registered: map[id.UserID]bool{},
		names: map[id.UserID]string{}, avatars: map[id.UserID]string{}, media: map[string][]byte{},
		muted: map[id.UserID]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/client/v3/register", hs.register)
	mux.HandleFunc("GET /_matrix/client/v3/profile/{user}/{field}", hs.getProfile)
	mux.HandleFunc("PUT /_matrix/client/v3/profile/{user}/{field}", hs.putProfile)
	mux.HandleFunc("POST /_matrix/media/v3/upload", hs.upload)
	mux.HandleFunc("PUT /_matrix/client/v3/pushrules/global/override/{rule}/enabled", hs.enablePushRule)
	mux.HandleFunc("GET /_matrix/client/v1/media/download/{server}/{media}", hs.download)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake homeserver got unexpected request %s %s", r.Method, r.URL.Path)
		writeErr(w, http.StatusNotFound, "M_UNRECOGNIZED")
	})
	hs.srv = httptest.NewServer(hs.authorized(mux))
	t.Cleanup(hs.srv.Close)
	return hs
}

func (hs *fakeHS) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testASToken {
			writeErr(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeErr(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"errcode": code, "error": code})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (hs *fakeHS) count(key string) {
	hs.lock.Lock()
	hs.calls[key]++
	hs.lock.Unlock()
}

func (hs *fakeHS) register(w http.ResponseWriter, r *http.Request) {
	hs.count("POST register")
	var req struct {
		Username string `json:"username"`
		Type     string `json:"type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Type != "m.login.application_service" {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON")
		return
	}
	user := id.NewUserID(req.Username, testDomain)
	hs.lock.Lock()
	defer hs.lock.Unlock()
	if hs.registered[user] {
		writeErr(w, http.StatusBadRequest, "M_USER_IN_USE")
		return
	}
	hs.registered[user] = true
	writeJSON(w, http.StatusOK, map[string]string{"user_id": user.String()})
}

// enablePushRule records the enabling or disabling of a registered user's master push rule.
func (hs *fakeHS) enablePushRule(w http.ResponseWriter, r *http.Request) {
	hs.count("PUT pushrule " + r.PathValue("rule"))
	user, ok := hs.actingUser(w, r)
	if !ok {
		return
	}
	var req struct {
		Enabled bool `json:"enabled"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.PathValue("rule") != ".m.rule.master" {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON")
		return
	}
	hs.lock.Lock()
	hs.muted[user] = req.Enabled
	hs.lock.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{})
}

// actingUser checks appservice masquerading like Dendrite: the ghost must be registered.
func (hs *fakeHS) actingUser(w http.ResponseWriter, r *http.Request) (id.UserID, bool) {
	user := id.UserID(r.URL.Query().Get("user_id"))
	hs.lock.Lock()
	defer hs.lock.Unlock()
	if !hs.registered[user] {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN")
		return "", false
	}
	return user, true
}

func (hs *fakeHS) getProfile(w http.ResponseWriter, r *http.Request) {
	field := r.PathValue("field")
	hs.count("GET " + field)
	user := id.UserID(r.PathValue("user"))
	hs.lock.Lock()
	defer hs.lock.Unlock()
	store := hs.names
	if field == "avatar_url" {
		store = hs.avatars
	}
	if value, ok := store[user]; ok && value != "" {
		writeJSON(w, http.StatusOK, map[string]string{field: value})
	} else {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND")
	}
}

func (hs *fakeHS) putProfile(w http.ResponseWriter, r *http.Request) {
	field := r.PathValue("field")
	hs.count("PUT " + field)
	user, ok := hs.actingUser(w, r)
	if !ok {
		return
	}
	if user != id.UserID(r.PathValue("user")) {
		writeErr(w, http.StatusForbidden, "M_FORBIDDEN")
		return
	}
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON")
		return
	}
	hs.lock.Lock()
	hold, held := hs.holdNames, hs.namesHeld
	hs.lock.Unlock()
	if hold != nil && field == "displayname" {
		held <- struct{}{}
		<-hold
	}
	hs.lock.Lock()
	defer hs.lock.Unlock()
	switch field {
	case "displayname":
		if hs.failNames > 0 {
			hs.failNames--
			writeErr(w, http.StatusForbidden, "M_FORBIDDEN")
			return
		}
		hs.names[user] = body[field]
	case "avatar_url":
		hs.avatars[user] = body[field]
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (hs *fakeHS) upload(w http.ResponseWriter, r *http.Request) {
	hs.count("POST upload")
	if _, ok := hs.actingUser(w, r); !ok {
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "M_BAD_JSON")
		return
	}
	hs.lock.Lock()
	mediaID := fmt.Sprintf("media%d", len(hs.media)+1)
	hs.media[mediaID] = data
	hs.lock.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"content_uri": "mxc://" + testDomain + "/" + mediaID})
}

func (hs *fakeHS) download(w http.ResponseWriter, r *http.Request) {
	hs.count("GET download")
	hs.lock.Lock()
	data, ok := hs.media[r.PathValue("media")]
	hs.lock.Unlock()
	if !ok || r.PathValue("server") != testDomain {
		writeErr(w, http.StatusNotFound, "M_NOT_FOUND")
		return
	}
	_, _ = w.Write(data)
}

// total returns the number of requests the homeserver has answered.
func (hs *fakeHS) total() int {
	hs.lock.Lock()
	defer hs.lock.Unlock()
	n := 0
	for _, c := range hs.calls {
		n += c
	}
	return n
}

// callCount returns how often one kind of request was made.
func (hs *fakeHS) callCount(key string) int {
	hs.lock.Lock()
	defer hs.lock.Unlock()
	return hs.calls[key]
}

// profile returns what a Matrix client would see as the ghost's name and avatar.
func (hs *fakeHS) profile(user id.UserID) (name, avatar string) {
	hs.lock.Lock()
	defer hs.lock.Unlock()
	return hs.names[user], hs.avatars[user]
}

// mediaBytes returns the content behind an mxc URI uploaded to the fake homeserver.
func (hs *fakeHS) mediaBytes(uri string) []byte {
	hs.lock.Lock()
	defer hs.lock.Unlock()
	return hs.media[strings.TrimPrefix(uri, "mxc://"+testDomain+"/")]
}

// testConfig returns a config with the given username template and the default display name template.
func testConfig(hsURL, usernameTemplate string) *config.Config {
	cfg := &config.Config{}
	cfg.Homeserver.Address, cfg.Homeserver.Domain = hsURL, testDomain
	cfg.Appservice.ID, cfg.Appservice.Address = "whatsapp", "http://127.0.0.1:29318"
	cfg.Appservice.Bot.Username = "whatsappbot"
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = testASToken, "hs-token-for-tests"
	cfg.Bridge.UsernameTemplate = usernameTemplate
	cfg.Bridge.DisplaynameTemplate = "{{or .FullName .PushName .Phone}} (WA)"
	return cfg
}

// env is one bridge process's puppet registry over a test database and a fake homeserver.
type env struct {
	t   *testing.T
	hs  *fakeHS
	db  *database.Database
	cfg *config.Config
	m   *puppet.Manager
}

// newEnv opens a fresh database of dialect d and a fake homeserver.
func newEnv(t *testing.T, d testdb.Dialect) *env {
	t.Helper()
	ctx := context.Background()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	db, err := database.Open(ctx, string(d), testdb.New(t, d), 4, 2, log)
	if err != nil {
		t.Fatalf("failed to open %s database: %v", d, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err = db.Upgrade(ctx); err != nil {
		t.Fatalf("failed to upgrade database: %v", err)
	}
	hs := newFakeHS(t)
	e := &env{t: t, hs: hs, db: db, cfg: testConfig(hs.srv.URL, "whatsapp_{{.}}")}
	e.restart()
	return e
}

// restart replaces the manager and appservice as a bridge restart would; database and homeserver
// keep their state.
func (e *env) restart() {
	e.t.Helper()
	as, err := appservice.CreateFull(appservice.CreateOpts{
		Registration:     e.cfg.Registration(),
		HomeserverDomain: e.cfg.Homeserver.Domain,
		HomeserverURL:    e.cfg.Homeserver.Address,
	})
	if err != nil {
		e.t.Fatalf("failed to create appservice: %v", err)
	}
	as.Log = zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.WarnLevel)
	e.m = puppet.NewManager(e.cfg, e.db, as, zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel))
}

// eachDialect runs fn as parallel subtests on PostgreSQL and SQLite.
func eachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// fakeLIDs is a LID store of one login.
type fakeLIDs struct {
	lock  sync.Mutex
	pnFor map[types.JID]types.JID
}

func newFakeLIDs() *fakeLIDs { return &fakeLIDs{pnFor: map[types.JID]types.JID{}} }

// learn records that lid and pn are the same person, as whatsmeow does when WhatsApp tells it.
func (f *fakeLIDs) learn(lid, pn types.JID) {
	f.lock.Lock()
	defer f.lock.Unlock()
	f.pnFor[lid.ToNonAD()] = pn.ToNonAD()
}

func (f *fakeLIDs) GetPNForLID(_ context.Context, lid types.JID) (types.JID, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	return f.pnFor[lid.ToNonAD()], nil
}

func (f *fakeLIDs) GetLIDForPN(_ context.Context, pn types.JID) (types.JID, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	for lid, p := range f.pnFor {
		if p == pn.ToNonAD() {
			return lid, nil
		}
	}
	return types.EmptyJID, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// countingAvatar returns an avatar whose Fetch returns data and counts downloads.
func countingAvatar(avatarID string, data []byte, fetches *int) *puppet.Avatar {
	return &puppet.Avatar{ID: avatarID, Fetch: func(context.Context) ([]byte, error) {
		*fetches++
		return data, nil
	}}
}

func discardLog() zerolog.Logger { return zerolog.Nop() }
