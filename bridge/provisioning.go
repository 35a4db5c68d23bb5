package bridge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// The provisioning API: integration managers and web UIs log users in to WhatsApp and open chats
// over HTTP instead of bot commands. It is served under config.ProvisioningPrefix on the
// appservice port when provisioning.enabled is set; docs/provisioning-openapi.yaml describes it.
//
// Every request carries the shared secret (Authorization: Bearer <provisioning.shared_secret>) and
// the Matrix user it acts for (?user_id=@alice:example.org), who must be allowed to use the bridge
// (bridge.permissions, level user or above). A user may have several WhatsApp logins: requests
// that act through one name it with ?login_id=<phone number> and otherwise use the user's default
// login. Answers are JSON; errors are Matrix-style {"errcode": ..., "error": ...} objects.

// Error codes of the provisioning API beyond the Matrix ones, in the Java package style the Matrix
// specification asks of custom codes.
const (
	errcodeNotLoggedIn     = "COM.GITHUB.MATRIX_WHATSAPP.NOT_LOGGED_IN"
	errcodeAlreadyLoggedIn = "COM.GITHUB.MATRIX_WHATSAPP.ALREADY_LOGGED_IN"
	errcodeLoginInProgress = "COM.GITHUB.MATRIX_WHATSAPP.LOGIN_IN_PROGRESS"
	// errcodeNoLoginInProgress: POST /login/cancel with nothing to cancel.
	errcodeNoLoginInProgress = "COM.GITHUB.MATRIX_WHATSAPP.NO_LOGIN_IN_PROGRESS"
	errcodeNotOnWhatsApp     = "COM.GITHUB.MATRIX_WHATSAPP.NOT_ON_WHATSAPP"
	errcodeWhatsApp          = "COM.GITHUB.MATRIX_WHATSAPP.WHATSAPP_ERROR"
	errcodeUnknownLogin      = "COM.GITHUB.MATRIX_WHATSAPP.UNKNOWN_LOGIN"
)

// provisionHandler handles an authenticated provisioning request for user's login named by
// ?login_id (the default login without it; user.User is the Matrix user).
type provisionHandler func(w http.ResponseWriter, r *http.Request, user *Account)

// provisionRoute is one endpoint of the provisioning API; path is relative to the prefix.
type provisionRoute struct {
	method, path string
	handler      func(br *Bridge) provisionHandler
}

// provisionRoutes are the API's endpoints; docs/provisioning-openapi.yaml describes each.
var provisionRoutes = []provisionRoute{
	{http.MethodGet, "/status", func(br *Bridge) provisionHandler { return br.provisionStatus }},
	{http.MethodPost, "/login/pair_code", func(br *Bridge) provisionHandler { return br.provisionPairCode }}, // provisioning_login.go
	{http.MethodPost, "/login/qr", func(br *Bridge) provisionHandler { return br.provisionQR }},
	{http.MethodGet, "/login/step", func(br *Bridge) provisionHandler { return br.provisionLoginStep }},
	{http.MethodPost, "/login/cancel", func(br *Bridge) provisionHandler { return br.provisionCancelLogin }},
	{http.MethodPost, "/logout", func(br *Bridge) provisionHandler { return br.provisionLogout }},
	{http.MethodGet, "/logins", func(br *Bridge) provisionHandler { return br.provisionLogins }}, // provisioning_logins.go
	{http.MethodPost, "/logins/{login_id}/default", func(br *Bridge) provisionHandler { return br.provisionSetDefaultLogin }},
	{http.MethodGet, "/contacts", func(br *Bridge) provisionHandler { return br.provisionContacts }},
	{http.MethodGet, "/resolve/{phone}", func(br *Bridge) provisionHandler { return br.provisionResolve }},
	{http.MethodPost, "/dm/{phone}", func(br *Bridge) provisionHandler { return br.provisionOpenDM }},
	{http.MethodGet, "/groups", func(br *Bridge) provisionHandler { return br.provisionGroups }}, // provisioning_groups.go
	{http.MethodPost, "/groups/join", func(br *Bridge) provisionHandler { return br.provisionJoinGroup }},
	{http.MethodGet, "/groups/{jid}/invite_link", func(br *Bridge) provisionHandler { return br.provisionInviteLink }},
	{http.MethodPost, "/groups/{jid}/invite_link/reset", func(br *Bridge) provisionHandler { return br.provisionResetInviteLink }},
}

// registerProvisioning adds the provisioning API to mux when it is enabled.
func (br *Bridge) registerProvisioning(mux *http.ServeMux) {
	if !br.Config.Provisioning.Enabled {
		return
	}
	methods := map[string][]string{}
	for _, route := range provisionRoutes {
		mux.HandleFunc(route.method+" "+config.ProvisioningPrefix+route.path, br.provisioned(route.handler(br)))
		methods[route.path] = append(methods[route.path], route.method)
	}
	for path, allowed := range methods {
		// A known endpoint asked with another method is 405 M_UNRECOGNIZED (Client-Server API,
		// "Common error codes"), not the catch-all's 404.
		allow := strings.Join(allowed, ", ")
		mux.HandleFunc(config.ProvisioningPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			mautrix.RespError{ErrCode: mautrix.MUnrecognized.ErrCode, StatusCode: http.StatusMethodNotAllowed,
				Err: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, allow)}.Write(w)
		})
	}
	mux.HandleFunc(config.ProvisioningPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		mautrix.MUnrecognized.WithMessage("Unrecognized provisioning endpoint %s %s", r.Method, r.URL.Path).Write(w)
	})
}

// provisioned checks the shared secret (constant time) and the acting user, then runs next. The
// secret is never logged.
func (br *Bridge) provisioned(next provisionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("Connection", "close") // see checkToken
			mautrix.MMissingToken.WithMessage("Missing provisioning secret (Authorization: Bearer <provisioning.shared_secret>)").Write(w)
			return
		}
		if subtle.ConstantTimeCompare([]byte(token), []byte(br.Config.Provisioning.SharedSecret)) != 1 {
			br.Log.Warn().Str("remote_addr", r.RemoteAddr).Str("path", r.URL.Path).Msg("Rejected provisioning request with a wrong secret")
			w.Header().Set("Connection", "close")
			mautrix.MUnknownToken.WithMessage("Wrong provisioning secret").Write(w)
			return
		}
		raw := r.URL.Query().Get("user_id")
		if raw == "" {
			provisionError(w, http.StatusBadRequest, "M_MISSING_PARAM", "Missing user_id: the Matrix user the request acts for")
			return
		}
		userID := id.UserID(raw)
		if _, _, err := userID.Parse(); err != nil || !strings.HasPrefix(raw, "@") {
			mautrix.MInvalidParam.WithMessage("user_id %q is not a Matrix user ID", raw).Write(w)
			return
		}
		if br.isBridgeUser(userID) || br.Config.PermissionLevel(raw) < config.LevelUser {
			mautrix.MForbidden.WithMessage("%s is not allowed to use the bridge", raw).Write(w)
			return
		}
		user, err := br.GetUser(r.Context(), userID)
		if err != nil {
			br.Log.Err(err).Stringer("user_mxid", userID).Msg("Failed to load user for provisioning")
			mautrix.MUnknown.WithMessage("Failed to load the user").WithStatus(http.StatusInternalServerError).Write(w)
			return
		}
		acct := user.Default()
		if raw := r.URL.Query().Get("login_id"); raw != "" {
			digits, ok := phoneDigits(raw)
			if !ok {
				mautrix.MInvalidParam.WithMessage("login_id %q is not a phone number in international format (e.g. +4915112345678)", raw).Write(w)
				return
			}
			if acct = user.Account(digits); acct == nil {
				provisionError(w, http.StatusNotFound, errcodeUnknownLogin, fmt.Sprintf("%s has no WhatsApp login +%s", userID, digits))
				return
			}
		}
		ctx := acct.log.With().Str("api", "provisioning").Str("path", r.URL.Path).Logger().WithContext(r.Context())
		next(w, r.WithContext(ctx), acct)
	}
}

// provisionStatusBody is the answer of GET /status.
type provisionStatusBody struct {
	UserID   id.UserID `json:"user_id"`
	LoggedIn bool      `json:"logged_in"`
	// LoginID is the login's phone number in digits ("" when not logged in); Default says whether
	// it is the user's default login.
	LoginID         string `json:"login_id,omitempty"`
	Default         bool   `json:"default"`
	Phone           string `json:"phone,omitempty"`
	JID             string `json:"jid,omitempty"`
	PushName        string `json:"push_name,omitempty"`
	State           string `json:"state"`
	StateSince      string `json:"state_since,omitempty"`
	ConnectedSince  string `json:"connected_since,omitempty"`
	Error           string `json:"error,omitempty"`
	LoginInProgress bool   `json:"login_in_progress"`
	// BridgeState is the state as pushed to homeserver.status_endpoint (bridgestate.go).
	BridgeState BridgeState `json:"bridge_state"`
	// Logins is the status of each of the user's WhatsApp logins, oldest first (in the answer
	// of GET /status only, not in its items).
	Logins []provisionStatusBody `json:"logins,omitempty"`
}

// provisionStatus answers GET /status[?login_id=]: the login (the default one without login_id)
// and its connection state, as the status command shows them, with every login of the user in
// "logins".
func (br *Bridge) provisionStatus(w http.ResponseWriter, _ *http.Request, user *Account) {
	body := user.statusBody()
	for _, acct := range user.Accounts() {
		body.Logins = append(body.Logins, acct.statusBody())
	}
	writeJSON(w, http.StatusOK, body)
}

// statusBody is the account's part of the answer of GET /status.
func (user *Account) statusBody() provisionStatusBody {
	st := user.wa.State()
	body := provisionStatusBody{UserID: user.MXID, State: string(st.Event), Error: st.Error, BridgeState: user.bridgeState(st, user.WAJID())}
	if jid := user.WAJID(); !jid.IsEmpty() {
		body.LoggedIn, body.Phone, body.JID, body.PushName = true, "+"+jid.User, jid.String(), user.OwnPushName()
		body.LoginID, body.Default = user.Phone(), user.Default() == user
	}
	if !st.Since.IsZero() {
		body.StateSince = st.Since.UTC().Format(time.RFC3339)
	}
	if !st.ConnectedSince.IsZero() {
		body.ConnectedSince = st.ConnectedSince.UTC().Format(time.RFC3339)
	}
	user.loginLock.Lock()
	body.LoginInProgress = user.login != nil
	user.loginLock.Unlock()
	return body
}

// provisionLogout answers POST /logout[?login_id=]: the device of the login (the default one
// without login_id) is logged out on WhatsApp and the session forgotten, like the logout command;
// the user's other logins stay. WhatsApp's refusal to confirm is reported in "warning".
func (br *Bridge) provisionLogout(w http.ResponseWriter, r *http.Request, user *Account) {
	if user.WAJID().IsEmpty() {
		provisionError(w, http.StatusConflict, errcodeNotLoggedIn, "Not logged in to WhatsApp")
		return
	}
	unconfirmed, err := user.wa.Logout(r.Context())
	if err == nil {
		err = user.clearLogin(r.Context())
	}
	if err != nil {
		zerolog.Ctx(r.Context()).Err(err).Msg("Failed to remove the WhatsApp session")
		mautrix.MUnknown.WithMessage("Failed to remove the session: %v", err).WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	body := map[string]any{"logged_out": true}
	if unconfirmed != nil {
		body["warning"] = "WhatsApp did not confirm the logout; the session was removed from the bridge anyway: " + unconfirmed.Error()
	}
	writeJSON(w, http.StatusOK, body)
}

// provisionContact is one contact in the answer of GET /contacts.
type provisionContact struct {
	JID      string    `json:"jid"`
	Phone    string    `json:"phone,omitempty"`
	Name     string    `json:"name"`
	PushName string    `json:"push_name,omitempty"`
	FullName string    `json:"full_name,omitempty"`
	Ghost    id.UserID `json:"ghost"`
}

// provisionContacts answers GET /contacts[?query=]: the user's WhatsApp contacts, like the
// list-contacts command but complete.
func (br *Bridge) provisionContacts(w http.ResponseWriter, r *http.Request, user *Account) {
	if !requireLogin(w, user) {
		return
	}
	contacts, err := br.listContacts(r.Context(), user, r.URL.Query().Get("query"))
	if err != nil {
		mautrix.MUnknown.WithMessage("Failed to read contacts: %v", err).WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	out := make([]provisionContact, 0, len(contacts))
	for _, c := range contacts {
		out = append(out, provisionContact{JID: c.JID.String(), Phone: c.Phone, Name: c.Name,
			PushName: c.Info.PushName, FullName: c.Info.FullName, Ghost: c.Ghost})
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": out})
}

// provisionResolve answers GET /resolve/{phone}: whether the number is on WhatsApp, with its JID
// and ghost.
func (br *Bridge) provisionResolve(w http.ResponseWriter, r *http.Request, user *Account) {
	digits, ok := br.checkPhone(w, r, user)
	if !ok {
		return
	}
	jid, err := user.wa.CheckOnWhatsApp(r.Context(), digits)
	if !br.onWhatsAppAnswer(w, r, digits, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"on_whatsapp": true, "phone": "+" + jid.User, "jid": jid.String(), "ghost": br.puppets.MXIDFor(jid)})
}

// provisionOpenDM answers POST /dm/{phone}: the room of the direct chat with the number, created
// (with the user invited) when there is none yet, like the pm command.
func (br *Bridge) provisionOpenDM(w http.ResponseWriter, r *http.Request, user *Account) {
	digits, ok := br.checkPhone(w, r, user)
	if !ok {
		return
	}
	jid, err := user.wa.CheckOnWhatsApp(r.Context(), digits)
	if !br.onWhatsAppAnswer(w, r, digits, err) {
		return
	}
	roomID, err := br.portals.OpenDM(r.Context(), userLogin{user}, jid)
	if err != nil {
		zerolog.Ctx(r.Context()).Err(err).Stringer("wa_jid", jid).Msg("Failed to open DM")
		mautrix.MUnknown.WithMessage("Failed to open the chat: %v", err).WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "jid": jid.String(), "ghost": br.puppets.MXIDFor(jid)})
}

// checkPhone requires a login and a phone number in the path; it answers the error itself.
func (br *Bridge) checkPhone(w http.ResponseWriter, r *http.Request, user *Account) (string, bool) {
	if !requireLogin(w, user) {
		return "", false
	}
	digits, ok := phoneDigits(r.PathValue("phone"))
	if !ok {
		mautrix.MInvalidParam.WithMessage("%q is not a phone number in international format (e.g. +4915112345678)", r.PathValue("phone")).Write(w)
		return "", false
	}
	return digits, true
}

// onWhatsAppAnswer answers a failed CheckOnWhatsApp and reports whether err was nil.
func (br *Bridge) onWhatsAppAnswer(w http.ResponseWriter, r *http.Request, digits string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, whatsapp.ErrNotOnWhatsApp):
		provisionError(w, http.StatusNotFound, errcodeNotOnWhatsApp, "+"+digits+" is not on WhatsApp")
	case errors.Is(err, whatsapp.ErrNotLoggedIn):
		provisionError(w, http.StatusConflict, errcodeNotLoggedIn, "Not connected to WhatsApp")
	default:
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("Failed to ask WhatsApp about a number")
		provisionError(w, http.StatusBadGateway, errcodeWhatsApp, "Could not ask WhatsApp: "+err.Error())
	}
	return false
}

// requireLogin answers 409 NOT_LOGGED_IN unless the user has a WhatsApp session.
func requireLogin(w http.ResponseWriter, user *Account) bool {
	if user.WAJID().IsEmpty() || user.wa.Client() == nil {
		provisionError(w, http.StatusConflict, errcodeNotLoggedIn, "Not logged in to WhatsApp")
		return false
	}
	return true
}

// phoneDigits turns "+49 151 1234-5678" into "4915112345678"; it reports false for anything that
// is not a phone number in international format.
func phoneDigits(s string) (string, bool) {
	if !phoneRegex.MatchString(strings.TrimSpace(s)) {
		return "", false
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	return digits, len(digits) >= 6 && len(digits) <= 15
}

// provisionError writes a Matrix-style error.
// maxProvisionBody bounds a provisioning request's JSON body (bytes).
const maxProvisionBody = 64 << 10

// decodeProvisionBody reads r's JSON body into v. A body over maxProvisionBody is answered 413
// M_TOO_LARGE, one that is not the JSON object the endpoint takes 400 M_NOT_JSON saying what is
// wrong in the API's terms; it then reports false.
func decodeProvisionBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxProvisionBody)).Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		provisionError(w, http.StatusRequestEntityTooLarge, "M_TOO_LARGE", fmt.Sprintf("Request body is over %d bytes", maxProvisionBody))
	default:
		mautrix.MNotJSON.WithMessage("Request body is not the JSON object this endpoint takes: %s", describeJSONError(err)).Write(w)
	}
	return false
}

func provisionError(w http.ResponseWriter, status int, errcode, msg string) {
	mautrix.RespError{ErrCode: errcode, Err: msg, StatusCode: status}.Write(w)
}

// provisionRequestContext is the context of work a provisioning request starts that must outlive
// the request (a login): the bridge's, with the request's logger.
func (br *Bridge) provisionRequestContext(r *http.Request) context.Context {
	return zerolog.Ctx(r.Context()).WithContext(br.ctx)
}
