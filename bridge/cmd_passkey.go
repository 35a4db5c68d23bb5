package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// showPasskeyRequest tells the user that WhatsApp wants the account's passkey before it links the
// bridge, and how to answer. The QR code shown so far is removed: entering the passkey step made
// it useless. It returns the QR event still to remove at the end (none).
func (user *Account) showPasskeyRequest(ctx context.Context, ce *commandEvent, step whatsapp.Step, qrEventID id.EventID) id.EventID {
	if qrEventID != "" {
		if _, err := user.br.AS.BotIntent().RedactEvent(ctx, ce.roomID, qrEventID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to redact QR code")
			return qrEventID
		}
	}
	request, err := json.Marshal(step.Passkey)
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to render passkey request")
	}
	ce.reply(ctx, "WhatsApp asks you to confirm this new linked device with your passkey for %s before it links the bridge.\n\n"+
		"Sign this WebAuthn request with your passkey (the one WhatsApp on your phone set up) and send the answer (the assertion as JSON) as `%spasskey <answer>`. "+
		"Send `%scancel` to abort.\n\n```json\n%s\n```", step.Passkey.RelyingPartID, ce.prefix(), ce.prefix(), request)
	return ""
}

// cmdPasskey answers the passkey step of a login in progress: `passkey <WebAuthn assertion JSON>`
// sends the assertion, `passkey confirm` confirms the code shown after it. A refused answer can be
// sent again; the login goes on until it succeeds, is cancelled or times out.
func cmdPasskey(ctx context.Context, ce *commandEvent) {
	user := ce.user
	user.loginLock.Lock()
	var flow *whatsapp.PairFlow
	if user.login != nil {
		flow = user.login.flow
	}
	user.loginLock.Unlock()
	if flow == nil {
		ce.reply(ctx, "There is no login waiting for a passkey. Send `%slogin` first.", ce.prefix())
		return
	}
	answer := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(ce.text), strings.Fields(ce.text)[0]))
	if strings.EqualFold(answer, "confirm") {
		if err := flow.ConfirmPasskey(ctx); errors.Is(err, whatsapp.ErrNotAtPasskeyStep) {
			ce.reply(ctx, "There is no passkey code to confirm yet: WhatsApp shows one after it accepted your passkey answer (`%spasskey <answer>`).", ce.prefix())
		} else if err != nil {
			ce.reply(ctx, "WhatsApp did not take the confirmation: %v", err)
		}
		return
	}
	var resp types.WebAuthnResponse
	if err := json.Unmarshal([]byte(answer), &resp); err != nil || len(resp.RawID) == 0 {
		ce.reply(ctx, "That is not a passkey answer. Send `%spasskey` followed by the WebAuthn assertion as JSON.", ce.prefix())
		return
	}
	if err := flow.AnswerPasskey(ctx, &resp); errors.Is(err, whatsapp.ErrNotAtPasskeyStep) {
		ce.reply(ctx, "This login is not waiting for a passkey: WhatsApp asks for one only after the QR code was scanned or the pairing code entered, and the bot then posts the request to sign.")
		return
	} else if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("WhatsApp refused the passkey answer")
		ce.reply(ctx, "WhatsApp did not accept the passkey (%v). Sign the latest request and send it again, or send `%scancel`.", err, ce.prefix())
		return
	}
	ce.reply(ctx, "Passkey accepted. Waiting for WhatsApp to finish linking…")
}
