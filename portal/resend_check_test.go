package portal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/tesths"
)

// TestTxnMarker checks that every content shape the portal sends keeps its fields and gains the
// transaction ID under TxnIDKey.
func TestTxnMarker(t *testing.T) {
	msg := &event.MessageEventContent{MsgType: event.MsgText, Body: "hello"}
	cases := map[string]any{
		"struct":          msg,
		"map":             map[string]any{"msgtype": "m.text", "body": "hello"},
		"raw":             json.RawMessage(`{"msgtype":"m.text","body":"hello"}`),
		"content":         event.Content{Parsed: msg, Raw: map[string]any{"x.extra": 1}},
		"very raw":        event.Content{VeryRaw: json.RawMessage(`{"msgtype":"m.text","body":"hello"}`)},
		"pointer":         &event.Content{Parsed: msg},
		"nil content":     event.Content{Raw: map[string]any{"msgtype": "m.text", "body": "hello"}},
		"double puppeted": markDoublePuppeted(msg),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := json.Marshal(withTxnMarker(content, "mw.1.2.ABC.0"))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err = json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if got["body"] != "hello" || got["msgtype"] != "m.text" || got[TxnIDKey] != "mw.1.2.ABC.0" {
				t.Errorf("marked content is %s", data)
			}
			if name == "content" && got["x.extra"] != float64(1) {
				t.Errorf("extra field lost: %s", data)
			}
			if name == "double puppeted" && got[DoublePuppetMarker] != true {
				t.Errorf("double puppeting marker lost: %s", data)
			}
		})
	}
	if data, _ := json.Marshal(withTxnMarker(struct{}{}, "t1")); string(data) != `{"`+TxnIDKey+`":"t1"}` {
		t.Errorf("an empty object marked is %s", data)
	}
	if data, _ := json.Marshal(withTxnMarker(msg, `a"b`)); !strings.HasSuffix(string(data), `"body":"hello",`+`"`+TxnIDKey+`":"a\"b"}`) {
		t.Errorf("the marker is not added as the last member, quoted: %s", data)
	}
	if data, _ := json.Marshal(msg); string(data) != `{"msgtype":"m.text","body":"hello"}` {
		t.Errorf("the original content was changed: %s", data)
	}
}

// TestFindSentUntilWaitsForALateEvent: an event an earlier attempt left without a clear answer is
// looked for again until it shows up (the homeserver stored it late), within the settle time and
// no longer; without a settle time the room is read once.
func TestFindSentUntilWaitsForALateEvent(t *testing.T) {
	var reads, visibleFrom atomic.Int32
	visibleFrom.Store(3) // the event shows from the third read on
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/sync") {
			http.NotFound(w, r)
			return
		}
		chunk := []any{map[string]any{"type": "m.room.message", "event_id": "$other", "sender": "@a:x",
			"content": map[string]any{"msgtype": "m.text", "body": "other", TxnIDKey: "mw.other"}}}
		if reads.Add(1) >= visibleFrom.Load() {
			chunk = append(chunk, map[string]any{"type": "m.room.message", "event_id": "$late", "sender": "@a:x",
				"content": map[string]any{"msgtype": "m.text", "body": "hi", TxnIDKey: "mw.late"}})
		}
		writeSync(w, "!room:x", chunk)
	}))
	defer srv.Close()
	client, err := mautrix.NewClient(srv.URL, "@bot:x", "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.late", time.Time{}); got != "" || err != nil || reads.Load() != 1 {
		t.Fatalf("without a settle time: found %q (%v) after %d reads, want nothing after 1", got, err, reads.Load())
	}
	if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.late", time.Now().Add(10*time.Second)); got != "$late" || err != nil {
		t.Fatalf("with a settle time: found %q (%v), want the late event", got, err)
	}
	if n := reads.Load(); n != visibleFrom.Load() {
		t.Errorf("read the room %d times, want %d (stop once found)", n, visibleFrom.Load())
	}

	reads.Store(0)
	visibleFrom.Store(1000)
	start := time.Now()
	if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.never", time.Now().Add(2*time.Second)); got != "" || err != nil {
		t.Fatalf("found %q (%v) for an event never stored", got, err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 10*time.Second {
		t.Errorf("looking for an event never stored took %s, want about the settle time of 2s", took)
	}
}

// TestFindSentUntilWaitsForTheHomeserver: while the homeserver does not answer (connection
// refused, a 5xx or 429 from it or a proxy in front of it, for the room's reads and for
// /versions), a send whose earlier attempt may have been stored is not made: the look ends with
// ErrLookUnanswered, however long the outage (the settle time must not run out while nothing can
// be seen), also when /versions answers but the room's reads get a 5xx (a homeserver starting). A
// read refused with 403 while /versions answers is looked at until the settle time and sent to; and
// without a settle time an unanswered read lets it send as before.
func TestFindSentUntilWaitsForTheHomeserver(t *testing.T) {
	var roomStatus, versionsStatus atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/versions") {
			w.WriteHeader(int(versionsStatus.Load()))
			_, _ = w.Write([]byte(`{"versions":["v1.1"]}`))
			return
		}
		w.WriteHeader(int(roomStatus.Load()))
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"down"}`))
	}))
	client, err := mautrix.NewClient(srv.URL, "@bot:x", "token")
	if err != nil {
		t.Fatal(err)
	}
	client.DefaultHTTPRetries = 0
	ctx := context.Background()
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests, http.StatusNotFound} {
		roomStatus.Store(int32(code))
		versionsStatus.Store(int32(code))
		start := time.Now()
		got, err := findSentUntil(ctx, client, true, "!room:x", "mw.cut", time.Now().Add(30*time.Second))
		if !errors.Is(err, ErrLookUnanswered) || got != "" {
			t.Errorf("homeserver answering %d: look returned %q, %v; want ErrLookUnanswered so that nothing is sent", code, got, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("homeserver answering %d: the look took %s before giving the error back", code, took)
		}
	}
	// A homeserver that answers /versions while its rooms fail to read (as when it starts) is
	// still away for the look.
	versionsStatus.Store(http.StatusOK)
	roomStatus.Store(http.StatusServiceUnavailable)
	if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.cut", time.Now().Add(30*time.Second)); !errors.Is(err, ErrLookUnanswered) || got != "" {
		t.Errorf("room reads answered 503, /versions 200: look returned %q, %v; want ErrLookUnanswered", got, err)
	}
	for _, code := range []int{http.StatusForbidden} {
		roomStatus.Store(int32(code))
		start := time.Now()
		if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.cut", time.Now().Add(1500*time.Millisecond)); got != "" || err != nil {
			t.Errorf("room read answered %d, homeserver up: look returned %q, %v; want nothing found, no error (send)", code, got, err)
		}
		if took := time.Since(start); took < time.Second {
			t.Errorf("room read answered %d, homeserver up: gave up after %s, want the settle time", code, took)
		}
	}
	versionsStatus.Store(http.StatusBadGateway)
	roomStatus.Store(http.StatusBadGateway)
	if got, err := findSentUntil(ctx, client, true, "!room:x", "mw.cut", time.Time{}); got != "" || err != nil {
		t.Errorf("without a settle time: look returned %q, %v; want nothing found, no error (send)", got, err)
	}
	srv.Close() // connection refused from now on
	got, err := findSentUntil(ctx, client, true, "!room:x", "mw.cut", time.Now().Add(30*time.Second))
	if !errors.Is(err, ErrLookUnanswered) || got != "" {
		t.Errorf("homeserver gone: look returned %q, %v; want ErrLookUnanswered", got, err)
	}
}

// fakeCrypto decrypts the events whose ciphertext it knows (by session ID) to the content it holds.
type fakeCrypto struct {
	plain map[id.SessionID]map[string]any
}

func (f *fakeCrypto) Encrypt(context.Context, id.RoomID, event.Type, any) (*event.EncryptedEventContent, error) {
	return nil, errors.New("not used")
}

func (f *fakeCrypto) Decrypt(_ context.Context, evt *event.Event) (*event.Event, error) {
	content, ok := evt.Content.Parsed.(*event.EncryptedEventContent)
	if !ok {
		return nil, errors.New("content not parsed")
	}
	plain, ok := f.plain[content.SessionID]
	if !ok || evt.RoomID == "" {
		return nil, errors.New("no session")
	}
	return &event.Event{ID: evt.ID, RoomID: evt.RoomID, Type: event.EventMessage, Content: event.Content{Raw: plain}}, nil
}

func (f *fakeCrypto) WaitForSession(context.Context, id.RoomID, id.SenderKey, id.SessionID, time.Duration) bool {
	return false
}

func (f *fakeCrypto) RequestSession(context.Context, id.RoomID, id.SenderKey, id.SessionID, id.UserID, id.DeviceID) {
}

func (f *fakeCrypto) Init(context.Context) error { return nil }

// TestFindSentInEncryptedRoom: in an encrypted room the transaction marker is inside the
// ciphertext; the bridge's device decrypts what it sent and finds it, and an event it cannot
// decrypt is simply not a match.
func TestFindSentInEncryptedRoom(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encrypted := func(evtID, session string) map[string]any {
			return map[string]any{"type": "m.room.encrypted", "event_id": evtID, "sender": "@a:x",
				"content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA",
					"session_id": session, "sender_key": "key", "device_id": "DEV"}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"start": "s1", "chunk": []any{
			encrypted("$unknown", "other"), encrypted("$mine", "ours"),
		}})
	}))
	defer srv.Close()
	client, err := mautrix.NewClient(srv.URL, "@bot:x", "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, _ := findSent(ctx, client, true, "!room:x", "mw.sent"); got != "" {
		t.Fatalf("without a crypto helper found %q in ciphertext", got)
	}
	client.Crypto = &fakeCrypto{plain: map[id.SessionID]map[string]any{
		"ours": {"msgtype": "m.text", "body": "hi", TxnIDKey: "mw.sent"},
	}}
	if got, _ := findSent(ctx, client, true, "!room:x", "mw.sent"); got != "$mine" {
		t.Fatalf("found %q, want the bridge's own encrypted event $mine", got)
	}
	if got, _ := findSent(ctx, client, true, "!room:x", "mw.other"); got != "" {
		t.Fatalf("found %q for a transaction never sent", got)
	}
}

// writeSync answers a /sync with the given timeline events of a joined room.
func writeSync(w http.ResponseWriter, roomID id.RoomID, events []any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"next_batch": "s1", "rooms": map[string]any{
		"join": map[string]any{string(roomID): map[string]any{"timeline": map[string]any{"events": events}}}}})
}

// TestFindSentReadsTheRoomBySync: the look for an earlier attempt's event reads the room's latest
// events as a /sync filtered to the room gives them, not as /messages pages back (Dendrite's
// backward paging was seen to skip an event that shares its depth with another, and the event was
// sent twice); the filter asks for that room and no more than resendLookback events. A user not
// joined to the room (no timeline in the sync) is looked up with /messages, and so is a room read
// without bySync.
func TestFindSentReadsTheRoomBySync(t *testing.T) {
	cut := map[string]any{"type": "m.room.message", "event_id": "$cut", "sender": "@a:x",
		"content": map[string]any{"msgtype": "m.text", "body": "hi", TxnIDKey: "mw.cut"}}
	other := map[string]any{"type": "m.room.message", "event_id": "$other", "sender": "@b:x",
		"content": map[string]any{"msgtype": "m.text", "body": "other"}}
	var joined atomic.Bool
	var filter atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/sync"):
			filter.Store(r.URL.Query().Get("filter"))
			if !joined.Load() {
				_ = json.NewEncoder(w).Encode(map[string]any{"next_batch": "s1"})
				return
			}
			writeSync(w, "!room:x", []any{cut, other})
		case strings.HasSuffix(r.URL.Path, "/messages"):
			// Backward paging that skipped the cut-off event when the user is joined; the
			// event is only there for a user who is not.
			chunk := []any{other}
			if !joined.Load() {
				chunk = append(chunk, cut)
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"chunk": chunk, "start": "s1"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client, err := mautrix.NewClient(srv.URL, "@a:x", "token")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	joined.Store(true)
	if got, err := findSent(ctx, client, true, "!room:x", "mw.cut"); got != "$cut" || err != nil {
		t.Fatalf("joined user: found %q (%v), want $cut from the sync", got, err)
	}
	var f struct {
		Room struct {
			Rooms    []id.RoomID `json:"rooms"`
			Timeline struct {
				Limit int `json:"limit"`
			} `json:"timeline"`
		} `json:"room"`
	}
	if err := json.Unmarshal([]byte(filter.Load().(string)), &f); err != nil || len(f.Room.Rooms) != 1 || f.Room.Rooms[0] != "!room:x" || f.Room.Timeline.Limit != resendLookback {
		t.Errorf("sync filter %s (%v) is not the room's latest %d events", filter.Load(), err, resendLookback)
	}
	joined.Store(false)
	if got, err := findSent(ctx, client, true, "!room:x", "mw.cut"); got != "$cut" || err != nil {
		t.Fatalf("user not joined: found %q (%v), want $cut from /messages", got, err)
	}
	// Without bySync (the bot, a double-puppeted account: users in many rooms) the room is read
	// with /messages only.
	joined.Store(true)
	filter.Store("none")
	if got, err := findSent(ctx, client, false, "!room:x", "mw.cut"); got != "" || err != nil || filter.Load() != "none" {
		t.Fatalf("without bySync: found %q (%v), sync filter %q; want /messages only", got, err, filter.Load())
	}
}

// TestLookReaderPrefersAGhost: the look for a double-puppeted send's earlier attempt reads the room
// as a ghost joined to it, by sync (a ghost is in few rooms; the user's real account may be in
// hundreds); not as the bot, nor as a ghost that only was invited or left; without such a ghost
// it reads as the real account, by /messages.
func TestLookReaderPrefersAGhost(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{}
	cfg.Homeserver.Address, cfg.Homeserver.Domain = "http://127.0.0.1:1", testDomain
	cfg.Appservice.ID, cfg.Appservice.Address = "whatsapp", "http://127.0.0.1:29318"
	cfg.Appservice.Bot.Username = testBot.Localpart()
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = testASToken, "hs-token-for-tests"
	cfg.Bridge.UsernameTemplate = "whatsapp_{{.}}"
	m := NewAppserviceMatrix(tesths.AppService(t, cfg, zerolog.Nop()))
	m.IsGhost = func(user id.UserID) bool {
		return strings.HasPrefix(user.Localpart(), "whatsapp_") && user.Homeserver() == testDomain
	}
	ctx := context.Background()
	real, err := mautrix.NewClient(cfg.Homeserver.Address, "@alice:"+testDomain, "token")
	if err != nil {
		t.Fatal(err)
	}
	const room = id.RoomID("!dm:" + testDomain)
	ghost := id.NewUserID("whatsapp_4915100000001", testDomain)
	invited := id.NewUserID("whatsapp_4915100000002", testDomain)
	for user, membership := range map[id.UserID]event.Membership{
		real.UserID: event.MembershipJoin, testBot: event.MembershipJoin, invited: event.MembershipInvite,
		id.NewUserID("mallory", "whatsapp_4915100000003.evil"): event.MembershipJoin,
	} {
		if err := m.as.StateStore.SetMembership(ctx, room, user, membership); err != nil {
			t.Fatal(err)
		}
	}
	if got, bySync := m.lookReader(ctx, room, real); got != real || bySync {
		t.Fatalf("without a joined ghost: read as %s (by sync %v), want the real account by /messages", got.UserID, bySync)
	}
	if err := m.as.StateStore.SetMembership(ctx, room, ghost, event.MembershipJoin); err != nil {
		t.Fatal(err)
	}
	if got, bySync := m.lookReader(ctx, room, real); got.UserID != ghost || !bySync {
		t.Fatalf("with the contact's ghost joined: read as %s (by sync %v), want %s by sync", got.UserID, bySync, ghost)
	}
}
