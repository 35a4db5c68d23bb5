package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// staticSource is a metrics.Source with fixed values.
type staticSource struct{ snap metrics.Snapshot }

func (s staticSource) MetricsSnapshot(context.Context) metrics.Snapshot { return s.snap }

// fakeMatrix answers SendEvent and Redact with err; every other method is left out.
type fakeMatrix struct {
	portal.Matrix
	err error
}

const bot = id.UserID("@whatsappbot:example.org")

func (f fakeMatrix) BotMXID() id.UserID { return bot }
func (f fakeMatrix) SendEvent(context.Context, id.UserID, id.RoomID, event.Type, any, int64, string) (id.EventID, error) {
	return "$x", f.err
}
func (f fakeMatrix) Redact(context.Context, id.UserID, id.RoomID, id.EventID, string) error {
	return f.err
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func hasLine(t *testing.T, body, line string) {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("scrape has no line %q", line)
}

// TestMatrixSeamCounts counts ghost sends by kind and failures by reason, and leaves the bot's
// notices out.
func TestMatrixSeamCounts(t *testing.T) {
	m := metrics.New(staticSource{}, zerolog.Nop())
	ctx := context.Background()
	ghost := id.UserID("@whatsapp_4917600000002:example.org")
	ok := m.Matrix(fakeMatrix{})
	text := &event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}
	for range 3 {
		_, _ = ok.SendEvent(ctx, ghost, "!r:example.org", event.EventMessage, text, 0, "")
	}
	_, _ = ok.SendEvent(ctx, bot, "!r:example.org", event.EventMessage, &event.MessageEventContent{MsgType: event.MsgNotice}, 0, "")
	_, _ = ok.SendEvent(ctx, ghost, "!r:example.org", event.EventReaction, map[string]any{}, 0, "")
	_ = ok.Redact(ctx, ghost, "!r:example.org", "$y", "")

	down := m.Matrix(fakeMatrix{err: mautrix.HTTPError{Message: "connection refused"}})
	_, _ = down.SendEvent(ctx, ghost, "!r:example.org", event.EventMessage, text, 0, "")
	refused := m.Matrix(fakeMatrix{err: mautrix.HTTPError{Response: &http.Response{StatusCode: 400}, RespError: &mautrix.RespError{ErrCode: "M_BAD_JSON"}}})
	_, _ = refused.SendEvent(ctx, ghost, "!r:example.org", event.EventMessage, text, 0, "")

	body := scrape(t, m)
	hasLine(t, body, `matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="text"} 3`)
	hasLine(t, body, `matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="reaction"} 1`)
	hasLine(t, body, `matrix_whatsapp_messages_bridged_total{direction="whatsapp_to_matrix",kind="redaction"} 1`)
	hasLine(t, body, `matrix_whatsapp_failures_total{direction="whatsapp_to_matrix",reason="homeserver_unreachable"} 1`)
	hasLine(t, body, `matrix_whatsapp_failures_total{direction="whatsapp_to_matrix",reason="homeserver_refused"} 1`)
	if strings.Contains(body, `kind="notice"`) {
		t.Errorf("the bot's notice was counted as a bridged message:\n%s", body)
	}
}

func TestMatrixKind(t *testing.T) {
	edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "* x", RelatesTo: (&event.RelatesTo{}).SetReplace("$a")}
	cases := []struct {
		typ     event.Type
		content any
		want    string
	}{
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText}, "text"},
		{event.EventMessage, &event.MessageEventContent{MsgType: event.MsgImage}, "image"},
		{event.EventMessage, &event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgVideo}, Raw: map[string]any{"x": 1}}, "video"},
		{event.EventMessage, edit, "edit"},
		{event.EventMessage, map[string]any{"msgtype": "m.file", "m.relates_to": map[string]any{"rel_type": "m.replace"}}, "edit"},
		{event.EventMessage, map[string]any{"msgtype": "m.location"}, "location"},
		{event.EventMessage, map[string]any{"msgtype": "org.example.custom"}, "other"},
		{event.EventSticker, &event.MessageEventContent{}, "sticker"},
		{event.EventReaction, nil, "reaction"},
		{event.Type{Type: "org.matrix.msc3381.poll.start", Class: event.MessageEventType}, nil, "poll"},
		{event.StateTopic, nil, "other"},
	}
	for _, c := range cases {
		if got := metrics.MatrixKind(c.typ, c.content); got != c.want {
			t.Errorf("MatrixKind(%s, %#v) = %q, want %q", c.typ.Type, c.content, got, c.want)
		}
	}
}

func TestWhatsAppKind(t *testing.T) {
	cases := []struct {
		msg  *waE2E.Message
		want string
	}{
		{&waE2E.Message{Conversation: proto.String("hi")}, "text"},
		{&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("hi")}}, "text"},
		{&waE2E.Message{ImageMessage: &waE2E.ImageMessage{}}, "image"},
		{&waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{}}, "file"},
		{&waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{}}, "reaction"},
		{&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}}, "redaction"},
		{&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum()}}, "edit"},
		{&waE2E.Message{}, "other"},
	}
	for _, c := range cases {
		if got := metrics.WhatsAppKind(c.msg); got != c.want {
			t.Errorf("WhatsAppKind(%v) = %q, want %q", c.msg, got, c.want)
		}
	}
}

// TestLoginStatesAndGauges follows a login through connect, loss and reconnect, and reads the
// scrape-time gauges from the source, including the database being unreadable.
func TestLoginStatesAndGauges(t *testing.T) {
	snap := metrics.Snapshot{
		Logins:           map[whatsapp.StateEvent]int{whatsapp.StateConnected: 2, whatsapp.StateLoggedOut: 1},
		ConnectedSockets: 2, DatabaseOK: true, Portals: 5, Ghosts: 7,
		MatrixInboxPending: 3, MatrixInboxOldest: time.Now().Add(-90 * time.Second),
		WhatsAppInboxPending: 1, WhatsAppInboxOldest: time.Now().Add(-30 * time.Second),
	}
	m := metrics.New(staticSource{snap}, zerolog.Nop())
	st := func(e whatsapp.StateEvent) whatsapp.State { return whatsapp.State{Event: e} }
	m.LoginStateChanged(st(whatsapp.StateUnconfigured), st(whatsapp.StateConnecting))
	m.LoginStateChanged(st(whatsapp.StateConnecting), st(whatsapp.StateConnected))
	m.LoginStateChanged(st(whatsapp.StateConnected), st(whatsapp.StateConnected))
	m.LoginStateChanged(st(whatsapp.StateConnected), st(whatsapp.StateTransientDisconnect))
	m.LoginStateChanged(st(whatsapp.StateTransientDisconnect), st(whatsapp.StateConnecting))
	m.LoginStateChanged(st(whatsapp.StateConnecting), st(whatsapp.StateConnected))

	body := scrape(t, m)
	hasLine(t, body, `matrix_whatsapp_whatsapp_connect_attempts_total 2`)
	hasLine(t, body, `matrix_whatsapp_whatsapp_disconnects_total{state="TRANSIENT_DISCONNECT"} 1`)
	hasLine(t, body, `matrix_whatsapp_logins{state="CONNECTED"} 2`)
	hasLine(t, body, `matrix_whatsapp_logins{state="LOGGED_OUT"} 1`)
	hasLine(t, body, `matrix_whatsapp_logins{state="BAD_CREDENTIALS"} 0`)
	hasLine(t, body, `matrix_whatsapp_whatsapp_connected_sockets 2`)
	hasLine(t, body, `matrix_whatsapp_portals 5`)
	hasLine(t, body, `matrix_whatsapp_ghosts 7`)
	hasLine(t, body, `matrix_whatsapp_database_up 1`)
	hasLine(t, body, `matrix_whatsapp_inbox_pending{direction="matrix_to_whatsapp"} 3`)
	hasLine(t, body, `matrix_whatsapp_inbox_pending{direction="whatsapp_to_matrix"} 1`)
	for dir, want := range map[string]float64{"matrix_to_whatsapp": 90, "whatsapp_to_matrix": 30} {
		found := false
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, `matrix_whatsapp_inbox_oldest_pending_seconds{direction="`+dir+`"} `); ok {
				found = true
				if age, err := strconv.ParseFloat(v, 64); err != nil || age < want || age > 3600 {
					t.Errorf("oldest %s inbox age = %s, want about %v s", dir, v, want)
				}
			}
		}
		if !found {
			t.Errorf("no oldest %s inbox age in the scrape", dir)
		}
	}

	idle := metrics.New(staticSource{metrics.Snapshot{DatabaseOK: true}}, zerolog.Nop())
	body = scrape(t, idle)
	hasLine(t, body, `matrix_whatsapp_inbox_pending{direction="whatsapp_to_matrix"} 0`)
	hasLine(t, body, `matrix_whatsapp_inbox_oldest_pending_seconds{direction="whatsapp_to_matrix"} 0`)

	unreadable := metrics.New(staticSource{metrics.Snapshot{}}, zerolog.Nop())
	body = scrape(t, unreadable)
	hasLine(t, body, `matrix_whatsapp_database_up 0`)
	if strings.Contains(body, "matrix_whatsapp_portals ") {
		t.Error("portal count exported although the database could not be read")
	}
}

// TestTransactionTiming observes the handler's answer by status.
func TestTransactionTiming(t *testing.T) {
	m := metrics.New(staticSource{}, zerolog.Nop())
	h := m.Transactions(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	for _, path := range []string{"/ok", "/ok", "/bad"} {
		h(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, path, nil))
	}
	body := scrape(t, m)
	hasLine(t, body, `matrix_whatsapp_appservice_transaction_duration_seconds_count{status="200"} 2`)
	hasLine(t, body, `matrix_whatsapp_appservice_transaction_duration_seconds_count{status="403"} 1`)
}

// slowWAClient takes a fixed time for every send, upload and download.
type slowWAClient struct {
	portal.WAClient
	took time.Duration
}

func (c slowWAClient) SendMessage(context.Context, types.JID, *waE2E.Message, ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	time.Sleep(c.took)
	return whatsmeow.SendResponse{}, nil
}
func (c slowWAClient) Upload(context.Context, []byte, whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	time.Sleep(c.took)
	return whatsmeow.UploadResponse{}, nil
}
func (c slowWAClient) Download(context.Context, whatsmeow.DownloadableMessage) ([]byte, error) {
	time.Sleep(c.took)
	return nil, nil
}

// TestHandlingSplit: a message's handling time is split into the bridge's part and what its
// WhatsApp calls and homeserver requests took; a message whose waits exceed its total (requests in
// parallel) counts no negative time for the bridge.
func TestHandlingSplit(t *testing.T) {
	m := metrics.New(staticSource{}, zerolog.Nop())
	cli := m.WAClient(slowWAClient{took: 20 * time.Millisecond})
	ctx, meter := waits.Track(context.Background())
	start := time.Now()
	if _, err := cli.Upload(ctx, []byte("x"), whatsmeow.MediaImage); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.SendMessage(ctx, types.NewJID("4917600000002", types.DefaultUserServer), &waE2E.Message{Conversation: proto.String("hi")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // a media download from the homeserver
	waits.Add(ctx, waits.Homeserver, 5*time.Millisecond)
	time.Sleep(10 * time.Millisecond) // the bridge's own work
	m.Handled(metrics.MatrixToWhatsApp, time.Since(start), meter)
	_, other := waits.Track(context.Background())
	waits.Add(context.Background(), waits.WhatsApp, time.Hour) // no meter: counts nowhere
	m.Handled(metrics.WhatsAppToMatrix, time.Millisecond, other)

	got := map[string]float64{}
	for _, line := range strings.Split(scrape(t, m), "\n") {
		if name, value, ok := strings.Cut(line, " "); ok && strings.HasPrefix(name, "matrix_whatsapp_message_handling_seconds_sum") {
			got[name], _ = strconv.ParseFloat(value, 64)
		}
	}
	sum := func(dir, part string) float64 {
		return got[`matrix_whatsapp_message_handling_seconds_sum{direction="`+dir+`",part="`+part+`"}`]
	}
	if wa := sum("matrix_to_whatsapp", "whatsapp"); wa < 0.040 || wa > 1 {
		t.Errorf("WhatsApp part %v s, want the two 20 ms calls", wa)
	}
	if hs := sum("matrix_to_whatsapp", "homeserver"); hs != 0.005 {
		t.Errorf("homeserver part %v s, want 0.005", hs)
	}
	if own := sum("matrix_to_whatsapp", "bridge"); own < 0.010 || own > 1 {
		t.Errorf("bridge part %v s, want the 10 ms between the calls", own)
	}
	if own, wa := sum("whatsapp_to_matrix", "bridge"), sum("whatsapp_to_matrix", "whatsapp"); own != 0.001 || wa != 0 {
		t.Errorf("a message with no waits: bridge %v s, WhatsApp %v s, want 0.001 and 0", own, wa)
	}

	parallel, meter := waits.Track(context.Background())
	waits.Add(parallel, waits.Homeserver, time.Second)
	m.Handled(metrics.WhatsAppToMatrix, time.Millisecond, meter)
	hasLine(t, scrape(t, m), `matrix_whatsapp_message_handling_seconds_sum{direction="whatsapp_to_matrix",part="bridge"} 0.001`)
}
