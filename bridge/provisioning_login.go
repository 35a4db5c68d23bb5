package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// pairCodeWait is how long POST /login/pair_code waits for WhatsApp to issue the code.
const pairCodeWait = 60 * time.Second

// errPasskeyByAPI ends a provisioned login that WhatsApp wants confirmed with a passkey, which
// only the login command can walk the user through.
var errPasskeyByAPI = errors.New("WhatsApp asks for a passkey confirmation, which the provisioning API cannot do: log in with the login command instead")

// provisionPairCode answers POST /login/pair_code {"phone": "+4915112345678"}: it starts a login
// with a code to type on the phone and answers with the code once WhatsApp has issued it. The
// login goes on in the background until the phone links (GET /status then shows logged_in), the
// login times out (bridge.login_timeout) or POST /login/cancel ends it.
func (br *Bridge) provisionPairCode(w http.ResponseWriter, r *http.Request, user *User) {
	var req struct {
		Phone string `json:"phone"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		mautrix.MNotJSON.WithMessage("Request body is not a JSON object: %v", err).Write(w)
		return
	}
	if req.Phone == "" {
		provisionError(w, http.StatusBadRequest, "M_MISSING_PARAM", `Missing "phone": the number of the WhatsApp account, in international format`)
		return
	}
	digits, ok := phoneDigits(req.Phone)
	if !ok {
		mautrix.MInvalidParam.WithMessage("%q is not a phone number in international format (e.g. +4915112345678)", req.Phone).Write(w)
		return
	}
	if jid := user.WAJID(); !jid.IsEmpty() {
		provisionError(w, http.StatusConflict, errcodeAlreadyLoggedIn, fmt.Sprintf("Already logged in as +%s: log out first", jid.User))
		return
	}
	user.loginLock.Lock()
	if user.login != nil {
		user.loginLock.Unlock()
		provisionError(w, http.StatusConflict, errcodeLoginInProgress, "A login is already in progress: cancel it first")
		return
	}
	timeout := time.Duration(br.Config.Bridge.LoginTimeout) * time.Second
	loginCtx, cancel := context.WithTimeout(br.provisionRequestContext(r), timeout)
	session := &loginSession{cancel: cancel}
	user.login = session
	user.loginLock.Unlock()

	codes := make(chan string, 1)
	failed := make(chan error, 1)
	started := br.spawn(func() {
		defer cancel()
		err := user.runProvisionedLogin(loginCtx, digits, session, codes)
		user.loginLock.Lock()
		user.login = nil
		user.loginLock.Unlock()
		if err != nil {
			zerolog.Ctx(loginCtx).Warn().Err(err).Msg("Provisioned login failed")
			failed <- err
		}
	})
	if !started {
		cancel()
		user.loginLock.Lock()
		user.login = nil
		user.loginLock.Unlock()
		mautrix.MUnknown.WithMessage("The bridge is shutting down").WithStatus(http.StatusServiceUnavailable).Write(w)
		return
	}
	select {
	case code := <-codes:
		writeJSON(w, http.StatusOK, map[string]any{"phone": "+" + digits, "code": code, "timeout_seconds": int(timeout.Seconds())})
	case err := <-failed:
		writeLoginError(w, err)
	case <-time.After(pairCodeWait):
		cancel()
		provisionError(w, http.StatusGatewayTimeout, errcodeWhatsApp, "WhatsApp did not issue a pairing code in time; the login was cancelled")
	case <-r.Context().Done():
		// The client went away before the code came: nobody can type it, so stop.
		cancel()
	}
}

// writeLoginError answers a login that failed before its code was shown.
func writeLoginError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, whatsapp.ErrUnreachable):
		provisionError(w, http.StatusBadGateway, errcodeWhatsApp, "WhatsApp could not be reached: "+err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		provisionError(w, http.StatusGatewayTimeout, errcodeWhatsApp, "The login timed out")
	default:
		provisionError(w, http.StatusBadGateway, errcodeWhatsApp, "Login failed: "+err.Error())
	}
}

// runProvisionedLogin drives a pairing-code flow: the code goes to codes (buffered, sent once), a
// success is stored like the login command's, and the management room (if any) hears of it.
func (user *User) runProvisionedLogin(ctx context.Context, phone string, session *loginSession, codes chan<- string) error {
	flow, err := user.wa.Pair(ctx, phone)
	if err != nil {
		return err
	}
	defer flow.Cancel()
	user.loginLock.Lock()
	session.flow = flow
	user.loginLock.Unlock()
	for {
		step, err := flow.Next(ctx)
		if err != nil {
			return err
		}
		switch step.Kind {
		case whatsapp.StepPairCode:
			select {
			case codes <- step.Code:
			default:
			}
		case whatsapp.StepPasskey, whatsapp.StepPasskeyCode:
			return errPasskeyByAPI
		case whatsapp.StepSuccess:
			return user.storeProvisionedLogin(ctx, step.JID)
		}
	}
}

// storeProvisionedLogin records a paired and connected device; when that fails the device is
// disconnected, so that the bridge does not run a session it has not recorded.
func (user *User) storeProvisionedLogin(ctx context.Context, jid types.JID) error {
	if err := user.setLogin(ctx, jid, jid.User, ""); err != nil {
		user.wa.Disconnect()
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("wa_jid", jid).Msg("Logged in to WhatsApp through the provisioning API")
	user.notify(fmt.Sprintf("Successfully logged in as %s.", formatPhone(jid.User)))
	return nil
}

// provisionCancelLogin answers POST /login/cancel: the login in progress, if any, is ended.
func (br *Bridge) provisionCancelLogin(w http.ResponseWriter, _ *http.Request, user *User) {
	user.loginLock.Lock()
	session := user.login
	if session != nil {
		session.cancelled = true
		session.cancel()
	}
	user.loginLock.Unlock()
	if session == nil {
		provisionError(w, http.StatusConflict, errcodeLoginInProgress, "There is no login in progress")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cancelled": true})
}
