package wasim

import (
	"fmt"
	"net/http"
	"strings"

	"go.mau.fi/whatsmeow/types"
)

// callRequest starts a call (POST /_wasim/calls) or ends one (POST /_wasim/calls/end). To is a phone
// number or a user JID for a 1:1 call, a group JID (…@g.us) for a group call.
type callRequest struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Video  bool   `json:"video"`
	CallID string `json:"call_id"`
	Reason string `json:"reason"`
}

func (s *Server) decodeCall(r *http.Request, needID bool) (callRequest, *Contact, types.JID, error) {
	var req callRequest
	if err := decodeBody(r, &req); err != nil {
		return req, nil, types.JID{}, err
	} else if err = required("from", req.From, "to", req.To); err != nil {
		return req, nil, types.JID{}, err
	} else if needID && req.CallID == "" {
		return req, nil, types.JID{}, badRequest("missing field \"call_id\"")
	}
	to, err := parseRecipient(req.To)
	if err != nil {
		return req, nil, types.JID{}, err
	}
	caller, err := s.phoneOf(req.From)
	return req, caller, to, err
}

func (s *Server) apiCall(r *http.Request) (int, any, error) {
	req, caller, to, err := s.decodeCall(r, false)
	if err != nil {
		return 0, nil, err
	}
	var callID string
	if to.Server == types.GroupServer {
		callID, err = caller.CallGroup(to, req.Video)
	} else {
		callID, err = caller.Call(to, req.Video)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"call_id": callID}, nil
}

func (s *Server) apiEndCall(r *http.Request) (int, any, error) {
	req, caller, to, err := s.decodeCall(r, true)
	if err != nil {
		return 0, nil, err
	}
	if to.Server == types.GroupServer {
		err = caller.EndGroupCall(to, req.CallID, req.Reason)
	} else {
		err = caller.EndCall(to, req.CallID, req.Reason)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"ended": true}, nil
}

// apiAnswerCall has the callee's phone answer (POST /_wasim/calls/answer) or decline (POST
// /_wasim/calls/decline) a 1:1 call: "to" is the callee, "from" the caller.
func (s *Server) apiAnswerCall(r *http.Request) (int, any, error) {
	req, caller, to, err := s.decodeCall(r, true)
	if err != nil {
		return 0, nil, err
	}
	s.stateLock.Lock()
	callee := s.accountFor(to.ToNonAD())
	s.stateLock.Unlock()
	if callee == nil {
		return 0, nil, fmt.Errorf("%w: %s", ErrNoSuchAccount, req.To)
	}
	if strings.HasSuffix(r.URL.Path, "/decline") {
		err = callee.DeclineCall(caller.JID(), req.CallID)
	} else {
		err = callee.AnswerCall(caller.JID(), req.CallID)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"done": true}, nil
}
