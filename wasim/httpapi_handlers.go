package wasim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// apiAccount is an account as the control API reports it.
type apiAccount struct {
	Phone    string      `json:"phone"`
	JID      string      `json:"jid"`
	LID      string      `json:"lid"`
	PushName string      `json:"push_name"`
	Devices  []apiDevice `json:"devices"`
}

// apiDevice is one device of an account (0 is the phone).
type apiDevice struct {
	ID     uint16 `json:"id"`
	JID    string `json:"jid"`
	Online bool   `json:"online"`
	Queued int    `json:"queued"`
}

func toAPIAccount(acct *Account) apiAccount {
	out := apiAccount{
		Phone: acct.JID().User, JID: acct.JID().String(), LID: acct.LID().String(),
		PushName: acct.PushName(), Devices: []apiDevice{},
	}
	for _, jid := range acct.Devices() {
		out.Devices = append(out.Devices, apiDevice{
			ID: jid.Device, JID: jid.String(), Online: acct.Online(jid.Device), Queued: acct.QueueLength(jid.Device),
		})
	}
	return out
}

type createAccountRequest struct {
	Phone    string `json:"phone"`
	PushName string `json:"push_name"`
}

func (s *Server) apiCreateAccount(r *http.Request) (int, any, error) {
	var req createAccountRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone); err != nil {
		return 0, nil, err
	}
	if digits := onlyDigits(req.Phone); len(digits) < 7 || strings.HasPrefix(digits, "0") {
		return 0, nil, badRequest("invalid phone number %q", req.Phone)
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	acct, err := s.CreateAccount(ctx, req.Phone, req.PushName)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, toAPIAccount(acct), nil
}

func (s *Server) apiListAccounts(*http.Request) (int, any, error) {
	s.stateLock.Lock()
	accts := make([]*Account, 0, len(s.accounts))
	for _, acct := range s.accounts {
		accts = append(accts, acct)
	}
	s.stateLock.Unlock()
	out := make([]apiAccount, 0, len(accts))
	for _, acct := range accts {
		out = append(out, toAPIAccount(acct))
	}
	slices.SortFunc(out, func(a, b apiAccount) int { return strings.Compare(a.Phone, b.Phone) })
	return http.StatusOK, out, nil
}

func (s *Server) apiGetAccount(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPIAccount(acct), nil
}

func (s *Server) apiGetDevices(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPIAccount(acct).Devices, nil
}

func (s *Server) apiRemoveDevice(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	id, err := parseDeviceID(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	} else if id == 0 {
		return 0, nil, badRequest("device 0 is the phone and cannot be removed")
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = acct.RemoveDevice(ctx, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"removed": true}, nil
}

type scanQRRequest struct {
	Phone string `json:"phone"`
	QR    string `json:"qr"`
}

func (s *Server) apiScanQR(r *http.Request) (int, any, error) {
	var req scanQRRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.linkDevice(r, req.Phone, "qr", req.QR, (*Account).ScanQR)
}

type pairingCodeRequest struct {
	Phone string `json:"phone"`
	Code  string `json:"code"`
}

func (s *Server) apiPairingCode(r *http.Request) (int, any, error) {
	var req pairingCodeRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.linkDevice(r, req.Phone, "code", req.Code, (*Account).EnterPairingCode)
}

// linkDevice has the phone of the account with the given number link a companion, by QR string or
// pairing code (field names the request field that held value).
func (s *Server) linkDevice(r *http.Request, phone, field, value string, link func(*Account, context.Context, string) error) (int, any, error) {
	if err := required("phone", phone, field, value); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(phone)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = link(acct, ctx, value); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toAPIAccount(acct), nil
}

type sendRequest struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Text     string `json:"text"`
	Kind     string `json:"kind"`
	Data     []byte `json:"data"`
	MimeType string `json:"mime_type"`
	Caption  string `json:"caption"`
	FileName string `json:"file_name"`
	// Lottie and Thumbnail (base64 PNG) send a sticker as a Lottie sticker (Media.Lottie); for an
	// image or video, Thumbnail (base64 JPEG) is its inline preview (Media.Thumbnail).
	Lottie    bool   `json:"lottie"`
	Thumbnail []byte `json:"thumbnail"`
	// ReplyTo quotes a message (by ID) in a text. ReactTo, EditOf and DeleteOf act on a message
	// instead of sending one: a reaction with Text as the emoji ("" takes it back), an edit of the
	// sender's own message to Text, a delete for everyone (the sender's own message, or in a group
	// anyone's when the sender is an admin).
	ReplyTo  string `json:"reply_to"`
	ReactTo  string `json:"react_to"`
	EditOf   string `json:"edit_of"`
	DeleteOf string `json:"delete_of"`
}

// action names the message the request acts on ("" for a new message) and checks that it names
// at most one, without media.
func (req *sendRequest) action() (string, error) {
	set := 0
	for _, v := range []string{req.ReactTo, req.EditOf, req.DeleteOf} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return "", badRequest("give one of \"react_to\", \"edit_of\" and \"delete_of\"")
	case set == 1 && req.Kind != "" && req.Kind != KindText:
		return "", badRequest("\"react_to\", \"edit_of\" and \"delete_of\" take no %q", "kind")
	case set == 1 && req.ReplyTo != "":
		return "", badRequest("\"reply_to\" goes with a new message only")
	case req.EditOf != "" && req.Text == "":
		return "", badRequest("missing field \"text\" (the edited text)")
	}
	return req.ReactTo + req.EditOf + req.DeleteOf, nil
}

// content checks the message fields: a text, or a media kind with data (and the options of that
// kind). It reports whether the request is for media.
func (req *sendRequest) content() (isMedia bool, err error) {
	isMedia = req.Kind != "" && req.Kind != KindText
	switch {
	case isMedia && !IsMediaKind(req.Kind):
		return false, badRequest("unknown kind %q (text, image, video, audio, ptt, document, sticker)", req.Kind)
	case isMedia && len(req.Data) == 0:
		return false, badRequest("missing field \"data\" (base64 file) for kind %q", req.Kind)
	case !isMedia && req.Text == "":
		return false, badRequest("missing field \"text\"")
	case req.Lottie && req.Kind != KindSticker:
		return false, badRequest("\"lottie\" needs kind %q", KindSticker)
	case req.Thumbnail != nil && req.Kind != KindSticker && req.Kind != KindImage && req.Kind != KindVideo:
		return false, badRequest("\"thumbnail\" needs kind %q, %q or %q", KindSticker, KindImage, KindVideo)
	}
	return isMedia, nil
}

// media is the request's attachment.
func (req *sendRequest) media() Media {
	return Media{
		Kind: req.Kind, Data: req.Data, MimeType: req.MimeType, Caption: req.Caption, FileName: req.FileName,
		Lottie: req.Lottie, Thumbnail: req.Thumbnail,
	}
}

func (s *Server) apiSend(r *http.Request) (int, any, error) {
	var req sendRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("from", req.From, "to", req.To); err != nil {
		return 0, nil, err
	}
	target, err := req.action()
	if err != nil {
		return 0, nil, err
	}
	isMedia := false
	if target == "" {
		if isMedia, err = req.content(); err != nil {
			return 0, nil, err
		}
	}
	to, err := parseRecipient(req.To)
	if err != nil {
		return 0, nil, err
	}
	sender, err := s.phoneOf(req.From)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	var id string
	switch {
	case target != "":
		id, err = sender.Send(ctx, to, sender.actOn(to, req))
	case isMedia:
		id, err = sender.SendMedia(ctx, to, req.media())
	case req.ReplyTo != "":
		id, err = sender.Send(ctx, to, sender.replyText(req.ReplyTo, req.Text))
	default:
		id, err = sender.SendText(ctx, to, req.Text)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"id": id}, nil
}

type phoneRequest struct {
	Phone string `json:"phone"`
}

func (s *Server) apiDrop(r *http.Request) (int, any, error) {
	var req phoneRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone); err != nil {
		return 0, nil, err
	}
	if err := s.DropConnections(req.Phone); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"dropped": true}, nil
}

type outageRequest struct {
	On      *bool    `json:"on"`
	Seconds *float64 `json:"seconds"`
}

func (s *Server) apiOutage(r *http.Request) (int, any, error) {
	var req outageRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	switch {
	case req.On != nil && req.Seconds != nil:
		return 0, nil, badRequest("give either \"on\" or \"seconds\", not both")
	case req.Seconds != nil:
		if *req.Seconds <= 0 || *req.Seconds > 24*3600 {
			return 0, nil, badRequest("\"seconds\" must be between 0 and 86400")
		}
		s.Outage(time.Duration(*req.Seconds * float64(time.Second)))
		return http.StatusOK, map[string]any{"outage": true, "seconds": *req.Seconds}, nil
	case req.On != nil:
		s.SetOutage(*req.On)
		return http.StatusOK, map[string]bool{"outage": *req.On}, nil
	}
	return 0, nil, badRequest("missing field \"on\" or \"seconds\"")
}

// apiDelay sets the delivery delay.
func (s *Server) apiDelay(r *http.Request) (int, any, error) {
	var req struct {
		MS *int64 `json:"ms"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if req.MS == nil || *req.MS < 0 || *req.MS > 3_600_000 {
		return 0, nil, badRequest("\"ms\" must be between 0 and 3600000")
	}
	s.SetDeliveryDelay(time.Duration(*req.MS) * time.Millisecond)
	return http.StatusOK, map[string]int64{"delay_ms": *req.MS}, nil
}

// apiRestart restarts the listener and answers once it listens again. On the simulator's own port
// the restart closes every connection, so the request's connection is hijacked first and the
// answer written on it by hand.
func (s *Server) apiRestart(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), controlTimeout)
	defer cancel()
	hijacker, ok := w.(http.Hijacker)
	if !ok {
		if err := s.Restart(ctx); err != nil {
			writeJSON(w, errorStatus(err), map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"restarted": true, "addr": s.Addr()})
		return
	}
	netConn, _, err := hijacker.Hijack()
	if err != nil {
		s.log.Warn().Err(err).Msg("Failed to take over the restart request's connection")
		return
	}
	defer netConn.Close()
	status, body := http.StatusOK, map[string]any{"restarted": true, "addr": s.Addr()}
	if err = s.Restart(ctx); err != nil {
		status, body = errorStatus(err), map[string]any{"error": err.Error()}
	}
	data, _ := json.Marshal(body)
	_, _ = fmt.Fprintf(netConn, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(data), data)
}
