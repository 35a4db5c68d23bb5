package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

const (
	// firstStepWait is how long starting a login waits for WhatsApp's first code.
	firstStepWait = 60 * time.Second
	// stepPollWait is how long GET /login/step waits for a new step before answering the current one.
	stepPollWait = 30 * time.Second
)

// errPasskeyByAPI ends a provisioned login that WhatsApp wants confirmed with a passkey, which
// only the login command can walk the user through.
var errPasskeyByAPI = errors.New("WhatsApp asks for a passkey confirmation, which the provisioning API cannot do: log in with the login command instead")

// provisionPairCode answers POST /login/pair_code {"phone": "+4915112345678"}: it starts a login
// with a code to type on the phone and answers with the code (a pair_code step) once WhatsApp has
// issued it. The login goes on in the background until the phone links, the login times out
// (bridge.login_timeout) or POST /login/cancel ends it; GET /login/step follows it.
func (br *Bridge) provisionPairCode(w http.ResponseWriter, r *http.Request, user *Account) {
	var req struct {
		Phone string `json:"phone"`
	}
	if !decodeProvisionBody(w, r, &req) {
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
	br.startProvisionedLogin(w, r, user, digits)
}

// provisionQR answers POST /login/qr: it starts a QR login and answers with the first code (a qr
// step). WhatsApp replaces the code every 20 seconds or so; GET /login/step long-polls for the next
// code and the outcome.
func (br *Bridge) provisionQR(w http.ResponseWriter, r *http.Request, user *Account) {
	br.startProvisionedLogin(w, r, user, "")
}

// startProvisionedLogin starts a login (pairing code for phone, else QR) in the background and
// answers with its first step. The login adds a WhatsApp account to the user's others; a pairing
// code for a number the user is logged in with already is refused (a QR login of such a number
// replaces the old device).
func (br *Bridge) startProvisionedLogin(w http.ResponseWriter, r *http.Request, user *Account, phone string) {
	if phone != "" && user.Account(phone) != nil {
		provisionError(w, http.StatusConflict, errcodeAlreadyLoggedIn, fmt.Sprintf("Already logged in as +%s: log out of that login first", phone))
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
	session := &loginSession{cancel: cancel, provisioned: true}
	progress := newAPILogin()
	user.login, user.apiLogin = session, progress
	user.loginLock.Unlock()
	// A new login adds an account; the first one pairs in the user's spare slot.
	user = user.pairingAccount()

	started := br.spawn(func() {
		defer cancel()
		err := user.runProvisionedLogin(loginCtx, phone, session, progress)
		cancelled := user.endLogin(session)
		switch {
		case err == nil:
		case cancelled:
			progress.set(apiLoginStep{Type: "failed", Error: "The login was cancelled"})
		default:
			zerolog.Ctx(loginCtx).Warn().Err(err).Msg("Provisioned login failed")
			failed := apiLoginStep{Type: "failed", Error: loginFailureText(err)}
			if phone != "" && errors.Is(err, whatsmeow.ErrIQNotFound) {
				// WhatsApp answers a pairing code request for a number it does not know with 404.
				failed.Error, failed.Errcode = "+"+phone+" is not on WhatsApp", errcodeNotOnWhatsApp
			}
			progress.set(failed)
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
	step := progress.wait(r.Context(), 0, firstStepWait)
	switch {
	case r.Context().Err() != nil:
		// The client went away before the first code: nobody can use it, so stop.
		cancel()
	case step.Seq == 0:
		cancel()
		provisionError(w, http.StatusGatewayTimeout, errcodeWhatsApp, "WhatsApp did not issue a code in time; the login was cancelled")
	case step.Type == "failed" && step.Errcode == errcodeNotOnWhatsApp:
		provisionError(w, http.StatusNotFound, errcodeNotOnWhatsApp, "Login failed: "+step.Error)
	case step.Type == "failed":
		provisionError(w, http.StatusBadGateway, errcodeWhatsApp, "Login failed: "+step.Error)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"step": step, "timeout_seconds": int(timeout.Seconds())})
	}
}

// provisionLoginStep answers GET /login/step?after=N: the first step of the last login started
// through the API with a seq above N, waiting up to 30 s for it; then the current step.
func (br *Bridge) provisionLoginStep(w http.ResponseWriter, r *http.Request, user *Account) {
	after := 0
	if raw := r.URL.Query().Get("after"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			mautrix.MInvalidParam.WithMessage("after must be a step number (0 or more), got %q", raw).Write(w)
			return
		}
		after = n
	}
	user.loginLock.Lock()
	progress := user.apiLogin
	user.loginLock.Unlock()
	if progress == nil {
		provisionError(w, http.StatusConflict, errcodeNoLoginInProgress, "No login was started through the provisioning API")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"step": progress.wait(r.Context(), after, stepPollWait)})
}

// loginFailureText says why a login failed, for the client.
func loginFailureText(err error) string {
	switch {
	case errors.Is(err, whatsapp.ErrUnreachable):
		return "WhatsApp could not be reached: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "The login timed out: the phone did not link in time"
	}
	return err.Error()
}

// runProvisionedLogin drives a pairing flow, recording each code in progress; a success is stored
// like the login command's, and the management room (if any) hears of it.
func (user *Account) runProvisionedLogin(ctx context.Context, phone string, session *loginSession, progress *apiLogin) error {
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
		case whatsapp.StepQR:
			progress.set(apiLoginStep{Type: "qr", Code: step.Code})
		case whatsapp.StepPairCode:
			progress.set(apiLoginStep{Type: "pair_code", Code: step.Code, Phone: "+" + phone})
		case whatsapp.StepPasskey, whatsapp.StepPasskeyCode:
			return errPasskeyByAPI
		case whatsapp.StepSuccess:
			if err = user.storeProvisionedLogin(ctx, step.JID); err != nil {
				return err
			}
			progress.set(apiLoginStep{Type: "success", Phone: "+" + step.JID.User})
			return nil
		}
	}
}

// storeProvisionedLogin records a paired and connected device; when that fails the device is
// disconnected, so that the bridge does not run a session it has not recorded.
func (user *Account) storeProvisionedLogin(ctx context.Context, jid types.JID) error {
	if err := user.setLogin(ctx, jid, jid.User, ""); err != nil {
		user.wa.Disconnect()
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("wa_jid", jid).Msg("Logged in to WhatsApp through the provisioning API")
	user.notify(fmt.Sprintf("Successfully logged in as %s.%s", formatPhone(jid.User), user.otherLoginsHint("")))
	return nil
}

// provisionCancelLogin answers POST /login/cancel: the login in progress, if any, is ended.
func (br *Bridge) provisionCancelLogin(w http.ResponseWriter, _ *http.Request, user *Account) {
	if user.cancelLogin() == nil {
		provisionError(w, http.StatusConflict, errcodeNoLoginInProgress, "There is no login in progress")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cancelled": true})
}
