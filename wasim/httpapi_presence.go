package wasim

import (
	"net/http"
	"time"
)

// The control API of presence (see presence.go):
//
//	PUT /_wasim/accounts/{phone}/presence  {available}  the account's phone announces itself
//	                                                     available or unavailable
//	GET /_wasim/accounts/{phone}/presence  -> {available}
func (s *Server) addPresenceRoutes(route func(string, func(*http.Request) (int, any, error)), prefix string) {
	route("PUT "+prefix+"/accounts/{phone}/presence", s.apiSetPresence)
	route("GET "+prefix+"/accounts/{phone}/presence", s.apiGetPresence)
}

func (s *Server) apiSetPresence(r *http.Request) (int, any, error) {
	var req struct {
		Available *bool `json:"available"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Available == nil {
		return 0, nil, badRequest("missing field %q", "available")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	phone := acct.Phone()
	if phone == nil {
		return 0, nil, badRequest("the phone of %s is offline", acct.JID().User)
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = phone.SetAvailable(ctx, *req.Available); err != nil {
		return 0, nil, err
	}
	// The announcement is a plain stanza without an answer: wait until the server applied it.
	for acct.Available() != *req.Available {
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiGetPresence(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"available": acct.Available()}, nil
}
