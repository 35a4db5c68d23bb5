package bridge

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
)

// provisionLogins answers GET /logins: the user's WhatsApp logins, oldest first, each with its
// state, and which one is the default.
func (br *Bridge) provisionLogins(w http.ResponseWriter, _ *http.Request, user *Account) {
	out := make([]provisionStatusBody, 0, 2)
	for _, acct := range user.Accounts() {
		out = append(out, acct.statusBody())
	}
	writeJSON(w, http.StatusOK, map[string]any{"logins": out, "default_login": user.DefaultPhone()})
}

// provisionSetDefaultLogin answers POST /logins/{login_id}/default: the login becomes the one
// commands and API requests without login_id use.
func (br *Bridge) provisionSetDefaultLogin(w http.ResponseWriter, r *http.Request, user *Account) {
	raw := r.PathValue("login_id")
	digits, ok := phoneDigits(raw)
	if !ok {
		mautrix.MInvalidParam.WithMessage("%q is not a phone number in international format (e.g. +4915112345678)", raw).Write(w)
		return
	}
	acct := user.Account(digits)
	if acct == nil {
		provisionError(w, http.StatusNotFound, errcodeUnknownLogin, fmt.Sprintf("%s has no WhatsApp login +%s", user.MXID, digits))
		return
	}
	if err := user.SetDefault(r.Context(), acct); err != nil {
		zerolog.Ctx(r.Context()).Err(err).Msg("Failed to store the default login")
		mautrix.MUnknown.WithMessage("Failed to store the default login: %v", err).WithStatus(http.StatusInternalServerError).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"default_login": digits})
}
