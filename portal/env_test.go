package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/tesths"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

const (
	testDomain  = "example.org"
	testASToken = "as-token-for-tests"
)

var (
	testBot     = id.NewUserID("whatsappbot", testDomain)
	testUser    = id.UserID("@alice:" + testDomain)
	testOwnJID  = types.NewJID("15559990000", types.DefaultUserServer)
	testContact = types.NewJID("15550001111", types.DefaultUserServer)
	testGroup   = types.NewJID("120363000000000001", types.GroupServer)
)

// registrar is the homeserver the puppet registry talks to: it only registers ghosts and mutes
// them (everything else a portal does goes through the fake Matrix).
func registrar(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/client/v3/register", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Username string `json:"username"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"user_id": id.NewUserID(req.Username, testDomain).String()})
	})
	// A new ghost's notifications are muted once registered (puppet.MuteNotifications).
	mux.HandleFunc("PUT /_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("homeserver got unexpected request %s %s: portals must go through Matrix", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// env is a portal manager over a fresh SQLite database, a fake Matrix and fake WhatsApp logins.
type env struct {
	t      *testing.T
	ctx    context.Context
	stop   context.CancelFunc
	db     *database.Database
	mx     *fakeMatrix
	m      *Manager
	cli    *fakeWAClient
	login  *fakeLogin
	ghosts *puppet.Manager
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	db, err := database.Open(ctx, string(testdb.SQLite), testdb.NewSQLite(t), 4, 2, log)
	if err != nil {
		t.Fatalf("failed to open database: %v", err)
	}
	if err = db.Upgrade(ctx); err != nil {
		t.Fatalf("failed to upgrade database: %v", err)
	}
	cfg := &config.Config{}
	cfg.Homeserver.Address, cfg.Homeserver.Domain = registrar(t), testDomain
	cfg.Appservice.ID, cfg.Appservice.Address = "whatsapp", "http://127.0.0.1:29318"
	cfg.Appservice.Bot.Username = testBot.Localpart()
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = testASToken, "hs-token-for-tests"
	cfg.Bridge.UsernameTemplate = "whatsapp_{{.}}"
	cfg.Bridge.DisplaynameTemplate = "{{or .FullName .PushName .Phone}} (WA)"
	as := tesths.AppService(t, cfg, log)
	e := &env{t: t, ctx: ctx, stop: cancel, db: db, mx: newFakeMatrix(testBot), cli: &fakeWAClient{}}
	e.login = &fakeLogin{mxid: testUser, jid: testOwnJID, client: e.cli}
	e.ghosts = puppet.NewManager(cfg, db, as, log)
	e.m = NewManager(ctx, cfg, db, e.mx, e.ghosts, &fakeUsers{logins: []*fakeLogin{e.login}}, log)
	t.Cleanup(func() {
		cancel()
		e.m.Wait()
		_ = db.Close()
	})
	return e
}

// ghost returns the user ID of a contact's ghost.
func (e *env) ghost(jid types.JID) id.UserID {
	return e.ghosts.MXIDFor(jid)
}

// portal returns the portal of a chat as the env's login sees it.
func (e *env) portal(chat types.JID) *Portal {
	e.t.Helper()
	key, err := e.m.KeyFor(e.ctx, e.login, chat)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.m.Get(e.ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// waText is a text message from sender in chat.
func waText(chat, sender types.JID, msgID, text string) *events.Message {
	return waMessage(chat, sender, msgID, &waE2E.Message{Conversation: proto.String(text)})
}

func waMessage(chat, sender types.JID, msgID string, msg *waE2E.Message) *events.Message {
	return &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: chat, Sender: sender, IsGroup: chat.Server == types.GroupServer},
			ID:            msgID,
			Timestamp:     time.UnixMilli(1700000000000).Add(time.Duration(len(msgID)) * time.Second),
		},
		Message: msg,
	}
}

// waReaction is sender's reaction emoji ("" to remove) to target in a 1:1 chat with the contact.
func waReaction(sender types.JID, msgID, target, emoji string) *events.Message {
	return waMessage(testContact, sender, msgID, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
		Key: &waCommon.MessageKey{RemoteJID: proto.String(testContact.String()), ID: proto.String(target)}, Text: proto.String(emoji),
	}})
}

// waProtocol is an edit (edited != nil) or a revoke of target by sender.
func waProtocol(sender types.JID, msgID, target string, edited *waE2E.Message) *events.Message {
	pm := &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: proto.String(target)}}
	if edited != nil {
		pm.Type, pm.EditedMessage = waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), edited
	}
	return waMessage(testContact, sender, msgID, &waE2E.Message{ProtocolMessage: pm})
}

// mxText is a text message from the env's user in roomID.
func mxText(roomID id.RoomID, eventID id.EventID, body string) *event.Event {
	return mxEvent(roomID, eventID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: body})
}

func mxEvent(roomID id.RoomID, eventID id.EventID, evtType event.Type, content any) *event.Event {
	return &event.Event{
		Type: evtType, RoomID: roomID, ID: eventID, Sender: testUser,
		Content: event.Content{Parsed: content},
	}
}
