package wasim

import (
	"net/http"
	"strconv"
	"time"
)

// deviceFaultRequest names an account and optionally one device; without a device the request
// applies to every companion (every device but the phone, 0).
type deviceFaultRequest struct {
	Phone  string  `json:"phone"`
	Device *uint16 `json:"device"`
}

// targets resolves the request to the account and its device numbers.
func (s *Server) targets(req deviceFaultRequest) (*Account, []uint16, error) {
	if err := required("phone", req.Phone); err != nil {
		return nil, nil, err
	}
	acct, err := s.Account(req.Phone)
	if err != nil {
		return nil, nil, err
	}
	if req.Device != nil {
		return acct, []uint16{*req.Device}, nil
	}
	var ids []uint16
	for _, jid := range acct.Devices() {
		if jid.Device != 0 {
			ids = append(ids, jid.Device)
		}
	}
	return acct, ids, nil
}

// apiRefuse refuses the next logins of a device: {phone, device?, reason, count?}; reason 0 clears.
func (s *Server) apiRefuse(r *http.Request) (int, any, error) {
	var req struct {
		deviceFaultRequest
		Reason *int `json:"reason"`
		Count  int  `json:"count"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Reason == nil {
		return 0, nil, badRequest("missing field \"reason\"")
	}
	acct, ids, err := s.targets(req.deviceFaultRequest)
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if *req.Reason == 0 {
			acct.ClearRefusals(id)
		} else if err = acct.RefuseLogins(id, *req.Reason, req.Count); err != nil {
			return 0, nil, badRequestOr(err)
		}
	}
	return http.StatusOK, map[string]any{"devices": ids, "reason": *req.Reason, "count": req.Count}, nil
}

// apiBan bans an account: {phone, code, seconds}; seconds 0 ends the ban.
func (s *Server) apiBan(r *http.Request) (int, any, error) {
	var req struct {
		Phone   string   `json:"phone"`
		Code    int      `json:"code"`
		Seconds *float64 `json:"seconds"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone); err != nil {
		return 0, nil, err
	} else if req.Seconds == nil || *req.Seconds < 0 || *req.Seconds > 365*24*3600 {
		return 0, nil, badRequest("\"seconds\" must be between 0 and 31536000")
	}
	acct, err := s.Account(req.Phone)
	if err != nil {
		return 0, nil, err
	}
	if *req.Seconds == 0 {
		acct.Unban()
		return http.StatusOK, map[string]bool{"banned": false}, nil
	}
	if err = acct.Ban(req.Code, time.Duration(*req.Seconds*float64(time.Second))); err != nil {
		return 0, nil, badRequestOr(err)
	}
	return http.StatusOK, map[string]any{"banned": true, "code": req.Code, "seconds": *req.Seconds}, nil
}

// apiStreamError ends a device's live connection with a stream error: {phone, device?, code}.
func (s *Server) apiStreamError(r *http.Request) (int, any, error) {
	var req struct {
		deviceFaultRequest
		Code string `json:"code"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("code", req.Code); err != nil {
		return 0, nil, err
	} else if _, err = strconv.Atoi(req.Code); err != nil {
		return 0, nil, badRequest("\"code\" must be a number, got %q", req.Code)
	}
	acct, ids, err := s.targets(req.deviceFaultRequest)
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if err = acct.SendStreamError(id, req.Code); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]any{"devices": ids, "code": req.Code}, nil
}

// apiSilence silences a device or ends its silence: {phone, device?, on}.
func (s *Server) apiSilence(r *http.Request) (int, any, error) {
	var req struct {
		deviceFaultRequest
		On *bool `json:"on"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.On == nil {
		return 0, nil, badRequest("missing field \"on\"")
	}
	acct, ids, err := s.targets(req.deviceFaultRequest)
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if err = acct.Silence(id, *req.On); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]any{"devices": ids, "silent": *req.On}, nil
}

// apiLogins reports the login attempts per device of an account (removed devices included).
func (s *Server) apiLogins(r *http.Request) (int, any, error) {
	phone := r.URL.Query().Get("phone")
	if err := required("phone", phone); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(phone)
	if err != nil {
		return 0, nil, err
	}
	s.stateLock.Lock()
	out := make(map[string]int, len(acct.faults.attempts))
	for id, n := range acct.faults.attempts {
		out[strconv.Itoa(int(id))] = n
	}
	s.stateLock.Unlock()
	return http.StatusOK, map[string]any{"logins": out}, nil
}

// apiOffline sets the offline limits: {queue_expiry_seconds?, offline_logout_seconds?} (0 = off).
func (s *Server) apiOffline(r *http.Request) (int, any, error) {
	var req struct {
		QueueExpiry   *float64 `json:"queue_expiry_seconds"`
		OfflineLogout *float64 `json:"offline_logout_seconds"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.QueueExpiry == nil && req.OfflineLogout == nil {
		return 0, nil, badRequest("missing field \"queue_expiry_seconds\" or \"offline_logout_seconds\"")
	}
	for _, v := range []*float64{req.QueueExpiry, req.OfflineLogout} {
		if v != nil && *v < 0 {
			return 0, nil, badRequest("seconds must not be negative")
		}
	}
	if req.QueueExpiry != nil {
		s.SetQueueExpiry(time.Duration(*req.QueueExpiry * float64(time.Second)))
	}
	if req.OfflineLogout != nil {
		s.SetCompanionOfflineLimit(time.Duration(*req.OfflineLogout * float64(time.Second)))
	}
	return http.StatusOK, map[string]bool{"ok": true}, nil
}

// badRequestOr maps a validation error of the Go API to 400, keeping the status of known errors.
func badRequestOr(err error) error {
	if status := errorStatus(err); status != http.StatusInternalServerError {
		return err
	}
	return badRequest("%v", err)
}
