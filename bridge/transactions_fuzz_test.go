package bridge

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// FuzzTransaction puts arbitrary bodies to the transaction endpoint. Whatever arrives, the bridge
// answers 200 (stored, every stored event with an event ID, a room and a type) or a Matrix error
// (400 M_NOT_JSON, 413 M_TOO_LARGE) and never panics; a body it accepted once is accepted again
// (a homeserver retrying a transaction).
func FuzzTransaction(f *testing.F) {
	for _, seed := range []string{
		`{"events":[{"event_id":"$a","room_id":"!r:test.local","type":"m.room.message","sender":"@u:test.local","content":{"msgtype":"m.text","body":"hi"}}]}`,
		`{"events":[{"event_id":"$b","room_id":"!r:test.local","type":"m.room.redaction","redacts":"$a","sender":"@u:test.local","content":{}}],"ephemeral":[{"type":"m.typing","room_id":"!r:test.local","content":{"user_ids":["@u:test.local"]}}]}`,
		`{"events":[{"room_id":"!r:test.local","type":"m.room.message"}]}`,
		`{"events":[{"event_id":"$c","room_id":"!r:test.local","type":"m.room.message","content":{"m.relates_to":[1,2]}}]}`,
		`{"events":"not a list"}`,
		`{"de.sorunome.msc2409.ephemeral":[{"type":"m.receipt","room_id":"!r:test.local","content":{"$a":{"m.read":{"@u:test.local":{"ts":"soon"}}}}}]}`,
		`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`,
		`{}`,
		``,
	} {
		f.Add(seed)
	}
	uri := testdb.New(f, testdb.SQLite)
	br := newTestBridge(f, testdb.SQLite, uri)
	h := br.router()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body string) {
		txnID := "fuzz-" + strconv.FormatInt(n.Add(1), 10)
		rec := putTxn(t, h, txnID, testHSToken, body)
		switch rec.Code {
		case http.StatusOK:
			if again := putTxn(t, h, txnID, testHSToken, body); again.Code != http.StatusOK {
				t.Fatalf("retried transaction answered %d %s", again.Code, again.Body)
			}
			var broken int
			if err := br.DB.DB.QueryRow(t.Context(), `SELECT COUNT(*) FROM matrix_inbox WHERE event_id='' OR room_id=''`).Scan(&broken); err != nil {
				t.Fatal(err)
			}
			if broken != 0 {
				t.Fatalf("%d stored events without an event ID or room", broken)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var resp struct {
				ErrCode string `json:"errcode"`
				Error   string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.ErrCode == "" || resp.Error == "" {
				t.Fatalf("error answer %d without errcode and error: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("answered %d %s", rec.Code, rec.Body)
		}
	})
}
