package wasim

import (
	"net/http"
	"time"
)

// The control API of the phone's app state (see appstate_phone.go):
//
//	POST /_wasim/accounts/{phone}/contacts   {contact, full_name, first_name}  save or rename a contact
//	                                          (contact: a phone number or JID) in the phone's address book
//	PUT  /_wasim/accounts/{phone}/push-name  {name}                            change the account's push name
//	POST /_wasim/accounts/{phone}/chat-settings {chat, muted, mute_until, pinned, archived, unread}
//	                                          change a chat's settings; omitted fields stay as they are,
//	                                          mute_until is RFC 3339 (omitted: muted forever)
//	GET  /_wasim/accounts/{phone}/app-state  {collection: version} of the account on the server
//
// Each write answers 200 {} once the phone's patch is stored and the companions were notified.

// addAppStateRoutes registers the app state routes with the control API's route function.
func (s *Server) addAppStateRoutes(route func(string, func(*http.Request) (int, any, error)), prefix string) {
	route("POST "+prefix+"/accounts/{phone}/contacts", s.apiSaveContact)
	route("PUT "+prefix+"/accounts/{phone}/push-name", s.apiSetPushName)
	route("POST "+prefix+"/accounts/{phone}/chat-settings", s.apiSetChatSettings)
	route("GET "+prefix+"/accounts/{phone}/app-state", s.apiAppStateVersions)
}

func (s *Server) apiSaveContact(r *http.Request) (int, any, error) {
	var req struct {
		Contact   string `json:"contact"`
		FullName  string `json:"full_name"`
		FirstName string `json:"first_name"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("contact", req.Contact); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	contact, err := parseRecipient(req.Contact)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = acct.SaveContact(ctx, contact, req.FullName, req.FirstName); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiSetPushName(r *http.Request) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("name", req.Name); err != nil {
		return 0, nil, err
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = acct.SetPushName(ctx, req.Name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiSetChatSettings(r *http.Request) (int, any, error) {
	var req struct {
		Chat      string `json:"chat"`
		Muted     *bool  `json:"muted"`
		MuteUntil string `json:"mute_until"`
		Pinned    *bool  `json:"pinned"`
		Archived  *bool  `json:"archived"`
		Unread    *bool  `json:"unread"`
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	} else if err = required("chat", req.Chat); err != nil {
		return 0, nil, err
	}
	settings := ChatSettings{Muted: req.Muted, Pinned: req.Pinned, Archived: req.Archived, Unread: req.Unread}
	if req.MuteUntil != "" {
		until, err := time.Parse(time.RFC3339, req.MuteUntil)
		if err != nil {
			return 0, nil, badRequest("invalid mute_until %q: %v", req.MuteUntil, err)
		}
		settings.MuteUntil = until
	}
	if settings == (ChatSettings{}) {
		return 0, nil, badRequest("no setting given (muted, pinned, archived or unread)")
	}
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	chat, err := parseRecipient(req.Chat)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := controlContext(r)
	defer cancel()
	if err = acct.SetChatSettings(ctx, chat, settings); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct{}{}, nil
}

func (s *Server) apiAppStateVersions(r *http.Request) (int, any, error) {
	acct, err := s.Account(r.PathValue("phone"))
	if err != nil {
		return 0, nil, err
	}
	versions := make(map[string]uint64, len(appStateCollections))
	for _, name := range appStateCollections {
		versions[string(name)] = acct.AppStateVersion(string(name))
	}
	return http.StatusOK, versions, nil
}
