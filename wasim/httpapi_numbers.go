package wasim

import (
	"net/http"
)

// The control API of number privacy (see hiddennumber.go):
//
//	PUT  /_wasim/accounts/{phone}/hidden-number  {hidden}  hide (true) or show the account's number
//	POST /_wasim/accounts/{phone}/reveal-number  {to}      let account "to" (a phone number) see the
//	                                                        number; to's phone syncs the mapping to
//	                                                        its companions
//
// Both answer 200 {} when done; an unknown account is 404.

// addNumberRoutes registers the number privacy routes with the control API's route function.
func (s *Server) addNumberRoutes(route func(string, func(*http.Request) (int, any, error)), prefix string) {
	route("PUT "+prefix+"/accounts/{phone}/hidden-number", s.apiSetNumberHidden)
	route("POST "+prefix+"/accounts/{phone}/reveal-number", s.apiRevealNumber)
}

func (s *Server) apiSetNumberHidden(r *http.Request) (int, any, error) {
	var req struct {
		Hidden *bool `json:"hidden"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Hidden == nil {
		return 0, nil, badRequest("missing field %q", "hidden")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	acct.SetPhoneNumberHidden(*req.Hidden)
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiRevealNumber(r *http.Request) (int, any, error) {
	var req struct {
		To string `json:"to"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("to", req.To); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	viewer, err := s.Account(req.To)
	if err != nil {
		return 0, nil, err
	}
	if viewer == acct {
		return 0, nil, badRequest("an account always knows its own number")
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = acct.RevealPhoneNumber(ctx, viewer); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}
