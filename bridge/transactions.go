package bridge

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// router serves the appservice API: transactions (our durable handler) and the user/room queries,
// plus the health endpoints (health.go).
func (br *Bridge) router() http.Handler {
	mux := http.NewServeMux()
	putTransaction := br.metrics.Transactions(br.putTransaction)
	appAPI := []struct {
		method, path string
		handler      http.HandlerFunc
	}{
		{http.MethodPut, "/_matrix/app/v1/transactions/{txnID}", putTransaction},
		{http.MethodPut, "/transactions/{txnID}", putTransaction},
		{http.MethodGet, "/_matrix/app/v1/users/{userID}", br.authenticated(br.AS.GetUser)},
		{http.MethodGet, "/_matrix/app/v1/rooms/{roomAlias}", br.authenticated(br.AS.GetRoom)},
		{http.MethodPost, "/_matrix/app/v1/ping", br.authenticated(br.AS.PostPing)},
	}
	for _, ep := range appAPI {
		mux.HandleFunc(ep.method+" "+ep.path, ep.handler)
		// A known endpoint asked with another method is 405 M_UNRECOGNIZED (Client-Server API,
		// "Common error codes"), not the catch-all's 404.
		mux.HandleFunc(ep.path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", ep.method)
			mautrix.RespError{ErrCode: mautrix.MUnrecognized.ErrCode, StatusCode: http.StatusMethodNotAllowed,
				Err: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, ep.method)}.Write(w)
		})
	}
	mux.HandleFunc("GET /_matrix/mau/live", br.handleLive)   // health.go
	mux.HandleFunc("GET /_matrix/mau/ready", br.handleReady) // health.go
	br.registerProvisioning(mux)                             // provisioning.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mautrix.MUnrecognized.WithMessage("Unrecognized endpoint %s %s", r.Method, r.URL.Path).Write(w)
	})
	return mux
}

// checkToken verifies the hs_token in constant time: a missing token is 401 M_UNAUTHORIZED, a wrong
// one 403 M_FORBIDDEN, as the appservice API specifies.
func (br *Bridge) checkToken(w http.ResponseWriter, r *http.Request) bool {
	// The scheme is case-insensitive (RFC 9110, section 11.1).
	auth := r.Header.Get("Authorization")
	token, ok := "", len(auth) > len("Bearer ") && strings.EqualFold(auth[:len("Bearer ")], "Bearer ")
	if ok {
		token = auth[len("Bearer "):]
	} else {
		token = r.URL.Query().Get("access_token")
	}
	if token == "" {
		// Refused before its body is read: closing the connection after the answer keeps a
		// client that announces a body and never sends it from holding the connection open
		// (net/http would otherwise wait to read the body before answering).
		w.Header().Set("Connection", "close")
		mautrix.RespError{ErrCode: "M_UNAUTHORIZED", Err: "Missing homeserver token", StatusCode: http.StatusUnauthorized}.Write(w)
		return false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(br.Config.Appservice.HSToken)) != 1 {
		br.Log.Warn().Str("remote_addr", r.RemoteAddr).Str("path", r.URL.Path).Msg("Rejected request with a wrong homeserver token")
		w.Header().Set("Connection", "close")
		mautrix.RespError{ErrCode: "M_FORBIDDEN", Err: "Invalid homeserver token", StatusCode: http.StatusForbidden}.Write(w)
		return false
	}
	return true
}

func (br *Bridge) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if br.checkToken(w, r) {
			next(w, r)
		}
	}
}

// maxTransactionEvents bounds the events (and, separately, the ephemeral events) of one
// transaction; a larger one is refused with 413 before anything is stored. Homeservers send far
// fewer (Synapse at most 100 of each), so only a misbehaving sender meets it; appservice.max_body_size
// bounds the bytes.
const maxTransactionEvents = 10000

// transaction is the body of an appservice transaction. Events stay raw here: each is parsed on its
// own so that one malformed event cannot take the others down with it.
type transaction struct {
	Events        []json.RawMessage `json:"events"`
	Ephemeral     []json.RawMessage `json:"ephemeral"`
	SoruEphemeral []json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
}

// eventHeader is the part of an event the inbox needs to store and order it.
type eventHeader struct {
	EventID  id.EventID `json:"event_id"`
	RoomID   id.RoomID  `json:"room_id"`
	Type     string     `json:"type"`
	Sender   id.UserID  `json:"sender"`
	StateKey *string    `json:"state_key"`
}

// putTransaction stores a transaction's events in the durable inbox and only then answers 200. An
// event ID seen before is not stored again, also in a transaction whose ID was seen before (which
// Dendrite sends with the events that arrived since the first push: database.MatrixInboxQuery.
// Enqueue); a database failure is answered 500 so that the homeserver retries it later.
func (br *Bridge) putTransaction(w http.ResponseWriter, r *http.Request) {
	if !br.checkToken(w, r) {
		return
	}
	txnID := r.PathValue("txnID")
	log := br.Log.With().Str("txn_id", txnID).Logger()
	body := http.MaxBytesReader(w, r.Body, br.Config.Appservice.MaxBodySize)
	var txn transaction
	if err := json.NewDecoder(body).Decode(&txn); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			log.Warn().Int64("limit", tooLarge.Limit).Msg("Rejected oversized transaction")
			mautrix.RespError{ErrCode: "M_TOO_LARGE", Err: "Transaction body exceeds appservice.max_body_size", StatusCode: http.StatusRequestEntityTooLarge}.Write(w)
			return
		}
		log.Warn().Err(err).Msg("Rejected malformed transaction")
		mautrix.MNotJSON.WithMessage("Transaction body is not valid JSON: %s", describeJSONError(err)).Write(w)
		return
	}
	if len(txn.Events) > maxTransactionEvents || len(txn.Ephemeral)+len(txn.SoruEphemeral) > maxTransactionEvents {
		log.Warn().Int("events", len(txn.Events)).Int("ephemeral", len(txn.Ephemeral)+len(txn.SoruEphemeral)).
			Msg("Rejected transaction with too many events")
		mautrix.RespError{ErrCode: "M_TOO_LARGE", Err: fmt.Sprintf("Transaction holds more than %d events", maxTransactionEvents),
			StatusCode: http.StatusRequestEntityTooLarge}.Write(w)
		return
	}
	if len(txn.Events) > 0 {
		br.roomActivity.touch(len(txn.Events)) // botsync.go
	}
	rows := make([]*database.InboxEvent, 0, len(txn.Events))
	echoes := 0
	for i, raw := range txn.Events {
		var hdr eventHeader
		if err := json.Unmarshal(raw, &hdr); err != nil || hdr.EventID == "" || hdr.RoomID == "" || hdr.Type == "" {
			log.Warn().Err(err).Int("index", i).Msg("Ignoring malformed event in transaction (missing event_id, room_id or type)")
			continue
		}
		if hdr.StateKey == nil && br.isBridgeUser(hdr.Sender) {
			// The echo of a message, reaction or redaction the bridge sent itself (as a ghost or
			// the bot): handleMatrixEvent ignores it, so it is not stored. State events of
			// ghosts and the bot are stored: memberships and encryption are tracked from them.
			echoes++
			continue
		}
		rows = append(rows, &database.InboxEvent{EventID: hdr.EventID, RoomID: hdr.RoomID, Event: raw})
	}
	inserted := 0
	var err error
	if len(rows) > 0 {
		// A transaction of nothing but echoes needs no record: a repeat of it stores nothing either.
		inserted, err = br.storeInboxEvents(r.Context(), txnID, rows)
	}
	if err != nil {
		log.Err(err).Msg("Failed to store transaction, homeserver will retry")
		mautrix.MUnknown.WithMessage("Failed to store transaction").WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	if repeated := countRepeated(rows); repeated > 0 {
		// Dendrite pushes a transaction it retries together with what arrived meanwhile, under
		// the same ID (database.MatrixInboxQuery.Enqueue): those events are new, and stored.
		log.Info().Int("new_events", repeated).Msg("Homeserver sent a transaction ID again with new events, stored them")
	}
	if e := log.Debug(); e.Enabled() {
		// The event IDs, in the homeserver's order, trace when each event reached the bridge.
		ids := make([]string, len(rows))
		for i, row := range rows {
			ids[i] = string(row.EventID)
		}
		e.Int("events", len(txn.Events)).Int("stored", inserted).Int("own_echoes", echoes).Strs("event_ids", ids).Msg("Received transaction")
	}
	br.handleEphemeral(log, append(txn.Ephemeral, txn.SoruEphemeral...))
	writeJSON(w, http.StatusOK, map[string]any{})
}

// countRepeated counts the rows Enqueue stored from a transaction whose ID was processed before.
func countRepeated(rows []*database.InboxEvent) int {
	n := 0
	for _, row := range rows {
		if row.Seq != 0 && row.RepeatedTxn {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// describeJSONError says what is wrong with a transaction body in the appservice API's terms: a
// value of the wrong type names its field and the type it has, not the bridge's Go types.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return fmt.Sprintf("the body is a JSON %s, not an object", typeErr.Value)
		}
		return fmt.Sprintf("field %q is a JSON %s, which it may not be", typeErr.Field, typeErr.Value)
	}
	return err.Error()
}
