package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

const testHSToken = "hs-token-for-tests-0123456789abcdef"

func testConfig(t testing.TB, dbType, uri string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
homeserver: {address: "http://127.0.0.1:1", domain: "test.local"}
appservice: {address: "http://127.0.0.1:2", port: 29999, as_token: "as-token-for-tests", hs_token: %q, max_body_size: 100000}
database: {type: %s, uri: %q}
bridge: {permissions: {"test.local": user}}
logging: {level: debug}
`, testHSToken, dbType, uri)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openTestDB(t testing.TB, d testdb.Dialect, uri string) *database.Database {
	t.Helper()
	dbType := "sqlite"
	if d == testdb.Postgres {
		dbType = "postgres"
	}
	db, err := database.Open(context.Background(), dbType, uri, 5, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err = db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newTestBridge(t testing.TB, d testdb.Dialect, uri string) *Bridge {
	t.Helper()
	dbType := "sqlite"
	if d == testdb.Postgres {
		dbType = "postgres"
	}
	br, err := New(testConfig(t, dbType, uri), openTestDB(t, d, uri), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return br
}

func msgEvent(eventID, body string) map[string]any {
	return map[string]any{
		"event_id": eventID, "room_id": "!room:test.local", "type": "m.room.message",
		"sender": "@alice:test.local", "origin_server_ts": 1, "content": map[string]any{"msgtype": "m.text", "body": body},
	}
}

func putTxn(t testing.TB, h http.Handler, txnID, token string, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func txnBody(t *testing.T, events ...map[string]any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func pendingCount(t *testing.T, br *Bridge) int {
	t.Helper()
	rows, err := br.DB.Inbox.Pending(context.Background(), "!room:test.local")
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func errcode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var resp struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	return resp.ErrCode
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.All {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			uri := testdb.New(t, d)
			br := newTestBridge(t, d, uri)
			h := br.router()

			t.Run("missing token", func(t *testing.T) {
				rec := putTxn(t, h, "t0", "", txnBody(t, msgEvent("$x", "x")))
				if rec.Code != http.StatusUnauthorized || errcode(t, rec) != "M_UNAUTHORIZED" {
					t.Errorf("got %d %s", rec.Code, rec.Body)
				}
			})
			t.Run("wrong token", func(t *testing.T) {
				rec := putTxn(t, h, "t0", "not-the-token", txnBody(t, msgEvent("$x", "x")))
				if rec.Code != http.StatusForbidden || errcode(t, rec) != "M_FORBIDDEN" {
					t.Errorf("got %d %s", rec.Code, rec.Body)
				}
			})
			t.Run("lowercase scheme", func(t *testing.T) {
				req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/t-lower", strings.NewReader(`{"events":[]}`))
				req.Header.Set("Authorization", "bearer "+testHSToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("got %d %s", rec.Code, rec.Body)
				}
			})
			t.Run("malformed JSON", func(t *testing.T) {
				rec := putTxn(t, h, "t0", testHSToken, `{"events": [`)
				if rec.Code != http.StatusBadRequest || errcode(t, rec) != "M_NOT_JSON" {
					t.Errorf("got %d %s", rec.Code, rec.Body)
				}
			})
			t.Run("wrong JSON types", func(t *testing.T) {
				for body, want := range map[string]string{
					`[1]`:            "the body is a JSON array, not an object",
					`{"events":"x"}`: `field "events" is a JSON string`,
				} {
					rec := putTxn(t, h, "t0", testHSToken, body)
					var resp struct {
						Error string `json:"error"`
					}
					_ = json.Unmarshal(rec.Body.Bytes(), &resp)
					if rec.Code != http.StatusBadRequest || errcode(t, rec) != "M_NOT_JSON" || !strings.Contains(resp.Error, want) || strings.Contains(resp.Error, "Go value") {
						t.Errorf("%s: got %d %s, want 400 M_NOT_JSON saying %q", body, rec.Code, rec.Body, want)
					}
				}
			})
			t.Run("oversized body", func(t *testing.T) {
				rec := putTxn(t, h, "t0", testHSToken, txnBody(t, msgEvent("$big", strings.Repeat("a", 200000))))
				if rec.Code != http.StatusRequestEntityTooLarge || errcode(t, rec) != "M_TOO_LARGE" {
					t.Errorf("got %d %s", rec.Code, rec.Body)
				}
			})
			t.Run("too many events", func(t *testing.T) {
				many := func(key string, n int) string {
					return `{"` + key + `":[` + strings.Repeat(`{},`, n-1) + `{}]}`
				}
				for _, key := range []string{"events", "ephemeral", "de.sorunome.msc2409.ephemeral"} {
					rec := putTxn(t, h, "t0-"+key, testHSToken, many(key, maxTransactionEvents+1))
					if rec.Code != http.StatusRequestEntityTooLarge || errcode(t, rec) != "M_TOO_LARGE" {
						t.Errorf("%d %s: got %d %s", maxTransactionEvents+1, key, rec.Code, rec.Body)
					}
				}
				// At the limit the transaction is accepted (its empty events are skipped as malformed).
				if rec := putTxn(t, h, "t0-limit", testHSToken, many("events", maxTransactionEvents)); rec.Code != http.StatusOK {
					t.Errorf("%d events: got %d %s", maxTransactionEvents, rec.Code, rec.Body)
				}
			})
			if n := pendingCount(t, br); n != 0 {
				t.Fatalf("rejected transactions stored %d events", n)
			}

			// A valid transaction is stored; repeating it stores nothing more.
			body := txnBody(t, msgEvent("$e1", "one"), msgEvent("$e2", "two"))
			for i := 0; i < 2; i++ {
				if rec := putTxn(t, h, "t1", testHSToken, body); rec.Code != http.StatusOK || rec.Body.String() != "{}" {
					t.Fatalf("attempt %d: got %d %s", i, rec.Code, rec.Body)
				}
			}
			if n := pendingCount(t, br); n != 2 {
				t.Fatalf("want 2 stored events after a repeated transaction, got %d", n)
			}
			// A new transaction repeating an event ID stores only the new event; a malformed event
			// inside it is skipped without losing the others.
			body = txnBody(t, msgEvent("$e2", "two"), map[string]any{"type": "m.room.message"}, msgEvent("$e3", "three"))
			if rec := putTxn(t, h, "t2", testHSToken, body); rec.Code != http.StatusOK {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			rows, err := br.DB.Inbox.Pending(context.Background(), "!room:test.local")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, row := range rows {
				ids = append(ids, row.EventID.String())
			}
			if strings.Join(ids, ",") != "$e1,$e2,$e3" {
				t.Fatalf("inbox holds %v, want $e1,$e2,$e3 in order", ids)
			}

			// After a restart (a new bridge on the same database) the events are still known: t1
			// pushed again stores nothing, and t1 pushed again with an event that arrived since
			// (Dendrite retrying a push whose answer it never got) stores that event only.
			br2 := newTestBridge(t, d, uri)
			if rec := putTxn(t, br2.router(), "t1", testHSToken, txnBody(t, msgEvent("$e1", "one"), msgEvent("$e2", "two"))); rec.Code != http.StatusOK {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if n := pendingCount(t, br2); n != 3 {
				t.Fatalf("a transaction repeated after restart was processed again: %d events", n)
			}
			if rec := putTxn(t, br2.router(), "t1", testHSToken, txnBody(t, msgEvent("$e1", "one"), msgEvent("$e9", "nine"))); rec.Code != http.StatusOK {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
			if n := pendingCount(t, br2); n != 4 {
				t.Fatalf("a transaction repeated with a new event stored %d events in all, want 4 ($e9 added)", n)
			}
		})
	}
}

func TestUnknownEndpoint(t *testing.T) {
	t.Parallel()
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	rec := httptest.NewRecorder()
	br.router().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != http.StatusNotFound || errcode(t, rec) != "M_UNRECOGNIZED" {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	// A known endpoint asked with the wrong method is 405, saying which method to use.
	for _, req := range []struct{ method, path, allow string }{
		{http.MethodPost, "/_matrix/app/v1/transactions/1", http.MethodPut},
		{http.MethodGet, "/transactions/1", http.MethodPut},
		{http.MethodGet, "/_matrix/app/v1/ping", http.MethodPost},
		{http.MethodDelete, "/_matrix/app/v1/users/@a:test.local", http.MethodGet},
	} {
		rec := httptest.NewRecorder()
		br.router().ServeHTTP(rec, httptest.NewRequest(req.method, req.path, nil))
		if rec.Code != http.StatusMethodNotAllowed || errcode(t, rec) != "M_UNRECOGNIZED" || rec.Header().Get("Allow") != req.allow {
			t.Errorf("%s %s: got %d %s (Allow %q), want 405 M_UNRECOGNIZED, Allow %s", req.method, req.path, rec.Code, rec.Body, rec.Header().Get("Allow"), req.allow)
		}
	}
}

// TestRefusedBeforeTheBody: a request without the homeserver token (or with a wrong one) is
// answered at once even when it announces a body it never sends, and its connection is closed, so
// that nobody without the token can hold the appservice port's connections open.
func TestRefusedBeforeTheBody(t *testing.T) {
	t.Parallel()
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	srv := httptest.NewServer(br.router())
	defer srv.Close()
	for _, auth := range []string{"", "Authorization: Bearer wrong\r\n"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close() // before srv.Close, which waits for the connection
		_, _ = fmt.Fprintf(conn, "PUT /_matrix/app/v1/transactions/slow HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", auth)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("auth %q: no answer while the body is pending: %v", auth, err)
		}
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden || !resp.Close {
			t.Errorf("auth %q: got %d (close %v), want 401/403 and the connection closed", auth, resp.StatusCode, resp.Close)
		}
		_ = resp.Body.Close()
	}
}

// TestTransactionSkipsOwnEchoes checks that the echoes of what the bridge sent itself (a ghost's
// message, the bot's notice) are not stored, while a ghost's membership (state the bridge tracks)
// and a user's message are, and that a transaction of echoes alone is answered without error.
func TestTransactionSkipsOwnEchoes(t *testing.T) {
	t.Parallel()
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	h := br.router()
	ghost := "@whatsapp_4917600000002:test.local"
	if !br.isBridgeUser(id.UserID(ghost)) || !br.isBridgeUser(br.BotMXID()) {
		t.Fatalf("%s or %s is not a bridge user in the test config", ghost, br.BotMXID())
	}
	fromGhost := msgEvent("$ghost", "echo")
	fromGhost["sender"] = ghost
	fromBot := msgEvent("$bot", "notice")
	fromBot["sender"] = string(br.BotMXID())
	join := map[string]any{
		"event_id": "$join", "room_id": "!room:test.local", "type": "m.room.member", "state_key": ghost,
		"sender": ghost, "origin_server_ts": 1, "content": map[string]any{"membership": "join"},
	}
	if rec := putTxn(t, h, "echoes", testHSToken, txnBody(t, fromGhost, fromBot)); rec.Code != http.StatusOK {
		t.Fatalf("transaction of echoes: %d %s", rec.Code, rec.Body)
	}
	if n := pendingCount(t, br); n != 0 {
		t.Fatalf("%d events stored from a transaction of echoes", n)
	}
	if rec := putTxn(t, h, "mixed", testHSToken, txnBody(t, fromGhost, join, msgEvent("$user", "hello"))); rec.Code != http.StatusOK {
		t.Fatalf("mixed transaction: %d %s", rec.Code, rec.Body)
	}
	rows, err := br.DB.Inbox.Pending(context.Background(), "!room:test.local")
	if err != nil {
		t.Fatal(err)
	}
	var stored []id.EventID
	for _, row := range rows {
		stored = append(stored, row.EventID)
	}
	if len(stored) != 2 || stored[0] != "$join" || stored[1] != "$user" {
		t.Errorf("stored %v, want the ghost's membership and the user's message", stored)
	}
}
