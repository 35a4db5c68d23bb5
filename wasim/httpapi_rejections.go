package wasim

import (
	"net/http"
	"time"

	"go.mau.fi/whatsmeow/types"
)

// controlRoute registers one control API route (see ControlHandler).
type controlRoute func(pattern string, fn func(r *http.Request) (int, any, error))

// routeRejections adds the routes for the server's refusals under prefix p:
//
//	POST /_wasim/accounts/{phone}/privacy {require_token}  refuse first messages without a token (463)
//	POST /_wasim/privacy-tokens {from, to}                 from trusts to: to gets a privacy token
//	POST /_wasim/faults/group-limit {limit, seconds}       429 past limit group queries per window
//	POST /_wasim/accounts/{phone}/passkey {required}       require the passkey step at pairing
//	POST /_wasim/passkey/assert {phone, options}           the account's passkey signs a WebAuthn
//	     challenge (options as whatsmeow's PairPasskeyRequest.PublicKey); answers the assertion
func (s *Server) routeRejections(route controlRoute, p string) {
	route("POST "+p+"/accounts/{phone}/privacy", s.apiPrivacy)
	route("POST "+p+"/privacy-tokens", s.apiIssueToken)
	route("POST "+p+"/faults/group-limit", s.apiGroupLimit)
	route("POST "+p+"/accounts/{phone}/passkey", s.apiRequirePasskey)
	route("POST "+p+"/passkey/assert", s.apiPasskeyAssert)
}

func (s *Server) apiPrivacy(r *http.Request) (int, any, error) {
	var req struct {
		RequireToken *bool `json:"require_token"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.RequireToken == nil {
		return 0, nil, badRequest("missing field \"require_token\"")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	acct.SetRequirePrivacyToken(*req.RequireToken)
	return http.StatusOK, map[string]bool{"require_token": *req.RequireToken}, nil
}

func (s *Server) apiIssueToken(r *http.Request) (int, any, error) {
	var req struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("from", req.From, "to", req.To); err != nil {
		return 0, nil, err
	}
	issuer, err := s.Account(req.From)
	if err != nil {
		return 0, nil, err
	}
	holder, err := s.Account(req.To)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = issuer.IssuePrivacyToken(ctx, holder); err != nil {
		return 0, nil, badRequest("%v", err)
	}
	return http.StatusCreated, map[string]bool{"issued": true}, nil
}

func (s *Server) apiGroupLimit(r *http.Request) (int, any, error) {
	var req struct {
		Limit   *int     `json:"limit"`
		Seconds *float64 `json:"seconds"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Limit == nil || *req.Limit < 0 {
		return 0, nil, badRequest("\"limit\" must be 0 (no limit) or more")
	}
	window := time.Minute
	if req.Seconds != nil {
		if *req.Seconds <= 0 || *req.Seconds > 24*3600 {
			return 0, nil, badRequest("\"seconds\" must be between 0 and 86400")
		}
		window = time.Duration(*req.Seconds * float64(time.Second))
	}
	s.SetGroupQueryLimit(*req.Limit, window)
	return http.StatusOK, map[string]any{"limit": *req.Limit, "seconds": window.Seconds()}, nil
}

func (s *Server) apiRequirePasskey(r *http.Request) (int, any, error) {
	var req struct {
		Required *bool `json:"required"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if req.Required == nil {
		return 0, nil, badRequest("missing field \"required\"")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	if err = acct.SetRequirePasskey(*req.Required); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]bool{"required": *req.Required}, nil
}

func (s *Server) apiPasskeyAssert(r *http.Request) (int, any, error) {
	var req struct {
		Phone   string                   `json:"phone"`
		Options *types.WebAuthnPublicKey `json:"options"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("phone", req.Phone); err != nil {
		return 0, nil, err
	} else if req.Options == nil {
		return 0, nil, badRequest("missing field \"options\"")
	}
	acct, err := s.Account(req.Phone)
	if err != nil {
		return 0, nil, err
	}
	resp, err := acct.AssertPasskey(req.Options)
	if err != nil {
		return 0, nil, badRequest("%v", err)
	}
	return http.StatusOK, resp, nil
}
