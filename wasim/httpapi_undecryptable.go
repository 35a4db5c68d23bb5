package wasim

import (
	"net/http"
)

// undecryptableRequest arms Account.BreakNextMessage (POST /_wasim/faults/undecryptable): the next
// message from From to Phone's companions arrives as Kind ("unavailable" or "corrupted").
type undecryptableRequest struct {
	Phone         string `json:"phone"`
	From          string `json:"from"`
	Kind          string `json:"kind"`
	PhoneToo      bool   `json:"phone_too"`
	SenderOffline bool   `json:"sender_offline"`
}

func (s *Server) apiUndecryptable(r *http.Request) (int, any, error) {
	var req undecryptableRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone, "from", req.From, "kind", req.Kind); err != nil {
		return 0, nil, err
	}
	kind := UndecryptableKind(req.Kind)
	if kind != Unavailable && kind != Corrupted {
		return 0, nil, badRequest("unknown kind %q (unavailable, corrupted)", req.Kind)
	}
	acct, err := s.Account(req.Phone)
	if err != nil {
		return 0, nil, err
	}
	from, err := parseRecipient(req.From)
	if err != nil {
		return 0, nil, err
	}
	err = acct.BreakNextMessage(from, Undecryptable{Kind: kind, Phone: req.PhoneToo, SenderOffline: req.SenderOffline})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"armed": true}, nil
}

// onlineRequest takes an account's phone offline or back online (POST /_wasim/phones/online).
type onlineRequest struct {
	Phone  string `json:"phone"`
	Online *bool  `json:"online"`
}

func (s *Server) apiPhoneOnline(r *http.Request) (int, any, error) {
	var req onlineRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone); err != nil {
		return 0, nil, err
	} else if req.Online == nil {
		return 0, nil, badRequest("missing field \"online\"")
	}
	phone, err := s.phoneOf(req.Phone)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = phone.SetOnline(ctx, *req.Online); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"online": *req.Online}, nil
}
