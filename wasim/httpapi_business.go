package wasim

import "net/http"

// The control API of business names (see business.go):
//
//	PUT /_wasim/accounts/{phone}/business_name  {name}  makes the account a business account with
//	                                                     this verified name, or renames it;
//	                                                     {"name": ""} makes it an ordinary account
//	                                                     again (ClearBusinessName)
//	GET /_wasim/accounts/{phone}/business_name  -> {name}  ("" for an ordinary account)
func (s *Server) addBusinessRoutes(route func(string, func(*http.Request) (int, any, error)), prefix string) {
	route("PUT "+prefix+"/accounts/{phone}/business_name", s.apiSetBusinessName)
	route("GET "+prefix+"/accounts/{phone}/business_name", s.apiGetBusinessName)
}

type businessNameBody struct {
	Name string `json:"name"`
}

func (s *Server) apiSetBusinessName(r *http.Request) (int, any, error) {
	var req struct {
		Name *string `json:"name"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Name == nil {
		return 0, nil, badRequest("missing field %q", "name")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	if *req.Name == "" {
		acct.ClearBusinessName()
		return http.StatusOK, struct{}{}, nil
	}
	if err = acct.SetBusinessName(r.Context(), *req.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiGetBusinessName(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, businessNameBody{Name: acct.BusinessName()}, nil
}
