package wasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// ControlPrefix is the path under which the control API lives, on the simulator's own port and on
// any listener ControlHandler is mounted on.
const ControlPrefix = "/_wasim/"

// maxControlBody bounds a control request body (media is sent base64 inside JSON).
const maxControlBody = 64 << 20

// controlTimeout bounds the work behind one control request (creating an account, pairing, sending).
const controlTimeout = 60 * time.Second

// apiError is a control API failure with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// errorStatus maps the simulator's errors onto HTTP statuses.
func errorStatus(err error) int {
	var apiErr *apiError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.status
	case errors.Is(err, ErrNoSuchAccount), errors.Is(err, ErrNoSuchDevice), errors.Is(err, ErrUnknownRef),
		errors.Is(err, ErrNoSuchMedia), errors.Is(err, ErrNoSuchGroup):
		return http.StatusNotFound
	case errors.Is(err, ErrAccountExists), errors.Is(err, ErrNoPendingPairing):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidQR), errors.Is(err, ErrWrongPairingCode):
		return http.StatusBadRequest
	case errors.Is(err, ErrServerClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// ControlHandler returns the HTTP/JSON control API. The simulator already serves it on its own
// port under ControlPrefix; mount it elsewhere to serve it on a separate listener. Routes (all
// bodies and answers are JSON; errors are {"error": "..."} with a 4xx/5xx status):
//
//	GET    /_wasim/info                          address, root public key, media host
//	POST   /_wasim/accounts      {phone, push_name}   create an account (201)
//	POST   /_wasim/contacts      {phone, push_name}   the same, for a contact (201)
//	GET    /_wasim/accounts                      every account with its devices
//	GET    /_wasim/accounts/{phone}              one account
//	GET    /_wasim/accounts/{phone}/devices      its devices
//	DELETE /_wasim/accounts/{phone}/devices/{id} log a companion out from the phone
//	POST   /_wasim/qr/scan       {phone, qr}          the account's phone scans a QR code
//	POST   /_wasim/pairing-code  {phone, code}        the account's phone enters a pairing code
//	POST   /_wasim/messages      {from, to, text}     send from an account's phone (201 {id});
//	       optional kind (image, video, audio, ptt, document, sticker) with data (base64),
//	       mime_type, caption, file_name; for a sticker lottie (a Lottie sticker: data is the
//	       .was file) and thumbnail (base64 PNG still); reply_to (a message ID) quotes a message
//	       in a text; react_to (text: the emoji, "" takes it back), edit_of (text: the new text)
//	       or delete_of act on a message (by ID) instead
//	GET    /_wasim/messages?phone=P[&kind=K]     messages P's phone received, oldest first: id,
//	       from, from_phone, chat, from_me, push_name, kind (see MessageKind), text (MessageBody),
//	       timestamp, mime_type, file_size
//	POST   /_wasim/faults/drop   {phone}              cut the account's connections
//	POST   /_wasim/faults/outage {on} or {seconds}    start/stop an outage, or one that ends itself
//	POST   /_wasim/faults/delay  {ms}                 hold every stanza back ms milliseconds (0 = off)
//	POST   /_wasim/faults/restart                     restart the listener, keeping all state
//	POST   /_wasim/faults/repeats {on}                deliver a message ID its sender used before
//	       again (on), or ack the repeat and deliver nothing (off, the default)
//	POST   /_wasim/faults/hold   {chat}               hold messages sent to chat (phone or JID):
//	       neither delivered nor acknowledged, so their sender's send waits
//	GET    /_wasim/faults/hold?chat=C            how many messages to C are held ({messages})
//	POST   /_wasim/faults/release {chat}              end the hold, handle the held messages in order
//	(chat history to seed and how the phone sends it: see addHistoryRoutes)
//	(refusals: privacy tokens, group query limit, passkey: see routeRejections)
//	POST   /_wasim/faults/refuse {phone, device?, reason, count?}  refuse the next count (0: all)
//	       logins of a device (no device: every companion) with <failure reason>; reason 0 clears
//	POST   /_wasim/faults/ban    {phone, code, seconds}  temporary ban (402); seconds 0 ends it
//	POST   /_wasim/faults/stream-error {phone, device?, code}  end live connections with a stream error
//	POST   /_wasim/faults/silence {phone, device?, on}  half-open connections: nothing is answered
//	GET    /_wasim/faults/logins?phone=P         login attempts per device ({logins: {"1": n}})
//	POST   /_wasim/faults/offline {queue_expiry_seconds?, offline_logout_seconds?}  offline limits
//	POST   /_wasim/faults/undecryptable {phone, from, kind}   the next message from "from" reaches
//	       phone's companions "unavailable" or "corrupted"; phone_too breaks the phone's copy,
//	       sender_offline drops the retry receipts (Account.BreakNextMessage)
//	POST   /_wasim/phones/online {phone, online}      take an account's phone offline or online
//	POST   /_wasim/status        {from, viewers, text | kind, data, caption}   post a status update
//	       seen by the accounts in viewers (phone numbers); 201 {id}
//	POST   /_wasim/calls         {from, to, video}    ring "to" (a user, or a group JID for a group
//	       call notice); 201 {call_id}
//	POST   /_wasim/calls/end     {from, to, call_id, reason}   end it ("timeout" = missed)
//	POST   /_wasim/calls/answer  {from, to, call_id}   "to"'s phone answers the call from "from"
//	POST   /_wasim/calls/decline {from, to, call_id}   "to"'s phone declines it
//
// App state, history, hidden numbers, presence and business names have their routes in
// httpapi_appstate.go, httpapi_history.go, httpapi_numbers.go, httpapi_presence.go and
// httpapi_business.go.
//
// Phones are digits with optional '+', spaces and dashes; "to" may also be a JID (user@lid, ...).
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, fn func(r *http.Request) (int, any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			status, body, err := fn(r)
			if err != nil {
				status = errorStatus(err)
				body = map[string]string{"error": err.Error()}
				s.log.Debug().Err(err).Str("path", r.URL.Path).Int("status", status).Msg("Control request failed")
			}
			writeJSON(w, status, body)
		})
	}
	p := strings.TrimSuffix(ControlPrefix, "/")
	route("GET "+p+"/info", s.apiInfo)
	route("POST "+p+"/accounts", s.apiCreateAccount)
	route("POST "+p+"/contacts", s.apiCreateAccount)
	route("GET "+p+"/accounts", s.apiListAccounts)
	route("GET "+p+"/accounts/{phone}", s.apiGetAccount)
	route("GET "+p+"/accounts/{phone}/devices", s.apiGetDevices)
	route("DELETE "+p+"/accounts/{phone}/devices/{id}", s.apiRemoveDevice)
	route("POST "+p+"/qr/scan", s.apiScanQR)
	route("POST "+p+"/pairing-code", s.apiPairingCode)
	route("POST "+p+"/messages", s.apiSend)
	route("GET "+p+"/messages", s.apiMessages)
	route("POST "+p+"/status", s.apiPostStatus) // status.go
	route("POST "+p+"/faults/drop", s.apiDrop)
	route("POST "+p+"/faults/outage", s.apiOutage)
	route("POST "+p+"/faults/delay", s.apiDelay)
	route("POST "+p+"/faults/repeats", s.apiRepeats)
	route("POST "+p+"/faults/hold", s.apiHold)
	route("GET "+p+"/faults/hold", s.apiHeld)
	route("POST "+p+"/faults/release", s.apiRelease)
	route("POST "+p+"/faults/undecryptable", s.apiUndecryptable) // httpapi_undecryptable.go
	route("POST "+p+"/phones/online", s.apiPhoneOnline)
	route("POST "+p+"/calls", s.apiCall) // httpapi_calls.go
	route("POST "+p+"/calls/end", s.apiEndCall)
	route("POST "+p+"/calls/answer", s.apiAnswerCall)
	route("POST "+p+"/calls/decline", s.apiAnswerCall)
	mux.HandleFunc("POST "+p+"/faults/restart", s.apiRestart)
	s.routeRejections(route, p) // httpapi_rejections.go
	route("POST "+p+"/faults/refuse", s.apiRefuse)
	route("POST "+p+"/faults/ban", s.apiBan)
	route("POST "+p+"/faults/stream-error", s.apiStreamError)
	route("POST "+p+"/faults/silence", s.apiSilence)
	route("GET "+p+"/faults/logins", s.apiLogins)
	route("POST "+p+"/faults/offline", s.apiOffline)
	s.addAppStateRoutes(route, p) // httpapi_appstate.go: contacts, push name, chat settings
	s.addHistoryRoutes(route, p)  // httpapi_history.go: the phone's chat history
	s.addNumberRoutes(route, p)   // httpapi_numbers.go: hidden numbers
	s.addPresenceRoutes(route, p) // httpapi_presence.go
	s.addBusinessRoutes(route, p) // httpapi_business.go: verified business names
	route(p+"/", func(r *http.Request) (int, any, error) {
		return 0, nil, &apiError{status: http.StatusNotFound, msg: "no such endpoint: " + r.Method + " " + r.URL.Path}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// decodeBody reads a JSON object into dst, refusing malformed JSON, unknown fields and anything
// but white space after the object (400), and a body over maxControlBody bytes (413).
func decodeBody(r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, next := dec.Token(); next != io.EOF {
			err = next
			if err == nil {
				err = errors.New("more than one JSON value")
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than %d bytes", maxControlBody)}
	default:
		return badRequest("malformed JSON body: %v", err)
	}
}

func required(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			return badRequest("missing field %q", fields[i])
		}
	}
	return nil
}

func controlContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), controlTimeout)
}

// parseRecipient accepts a phone number or a JID.
func parseRecipient(to string) (types.JID, error) {
	if strings.Contains(to, "@") {
		jid, err := types.ParseJID(to)
		if err != nil {
			return types.JID{}, badRequest("invalid JID %q: %v", to, err)
		}
		return jid, nil
	}
	digits := onlyDigits(to)
	if len(digits) < 7 {
		return types.JID{}, badRequest("invalid phone number %q", to)
	}
	return types.NewJID(digits, types.DefaultUserServer), nil
}

func (s *Server) phoneOf(phone string) (*Contact, error) {
	acct, err := s.Account(phone)
	if err != nil {
		return nil, err
	}
	contact := acct.Phone()
	if contact == nil {
		return nil, &apiError{status: http.StatusConflict, msg: "account's phone is not online yet"}
	}
	return contact, nil
}

func (s *Server) apiInfo(*http.Request) (int, any, error) {
	return http.StatusOK, map[string]string{
		"addr": s.Addr(), "root_pubkey": s.RootPublicKeyHex(), "media_host": MediaHost,
	}, nil
}

// apiMessage is one received message as the control API reports it. From is the sender as
// WhatsApp addressed it (usually a LID); FromPhone is that account's phone number.
type apiMessage struct {
	ID        string    `json:"id"`
	From      string    `json:"from"`
	FromPhone string    `json:"from_phone,omitempty"`
	Chat      string    `json:"chat"`
	FromMe    bool      `json:"from_me"`
	PushName  string    `json:"push_name,omitempty"`
	Kind      string    `json:"kind"`
	Text      string    `json:"text"`
	Timestamp time.Time `json:"timestamp"`
	MimeType  string    `json:"mime_type,omitempty"`
	FileSize  uint64    `json:"file_size,omitempty"`
}

func (s *Server) toAPIMessage(evt *events.Message) apiMessage {
	out := apiMessage{
		ID: evt.Info.ID, From: evt.Info.Sender.ToNonAD().String(), Chat: evt.Info.Chat.String(),
		FromMe: evt.Info.IsFromMe, PushName: evt.Info.PushName, Kind: MessageKind(evt),
		Text: MessageBody(evt), Timestamp: evt.Info.Timestamp.UTC(),
	}
	s.stateLock.Lock()
	if acct := s.accountFor(evt.Info.Sender.ToNonAD()); acct != nil {
		out.FromPhone = acct.pn.User
	}
	s.stateLock.Unlock()
	if att := Attachment(evt.Message); att != nil {
		if sized, ok := att.(interface{ GetFileLength() uint64 }); ok {
			out.FileSize = sized.GetFileLength()
		}
		if withMime, ok := att.(interface{ GetMimetype() string }); ok {
			out.MimeType = withMime.GetMimetype()
		}
	}
	return out
}

func (s *Server) apiMessages(r *http.Request) (int, any, error) {
	phone := r.URL.Query().Get("phone")
	if err := required("phone", phone); err != nil {
		return 0, nil, err
	}
	contact, err := s.phoneOf(phone)
	if err != nil {
		return 0, nil, err
	}
	kind := r.URL.Query().Get("kind")
	out := []apiMessage{}
	for _, evt := range contact.All() {
		if msg, ok := evt.(*events.Message); ok {
			if m := s.toAPIMessage(msg); kind == "" || m.Kind == kind {
				out = append(out, m)
			}
		}
	}
	return http.StatusOK, out, nil
}

// parseDeviceID parses a device number from a path.
func parseDeviceID(raw string) (uint16, error) {
	id, err := strconv.ParseUint(raw, 10, 16)
	if err != nil {
		return 0, badRequest("invalid device id %q", raw)
	}
	return uint16(id), nil
}
