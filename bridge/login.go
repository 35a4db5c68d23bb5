package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/png" // DecodeConfig of the rendered QR code
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/skip2/go-qrcode"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// loginSession is a QR or pairing-code login in progress. At most one runs per user.
type loginSession struct {
	cancel    context.CancelFunc
	cancelled bool
	// flow is the pairing in progress, once started (for the passkey command). Guarded by the
	// user's loginLock, like the rest of the session.
	flow *whatsapp.PairFlow
	// provisioned marks a login started through the provisioning API: its steps are not shown in
	// the management room, so nothing there says that it ended when it is cancelled from it.
	provisioned bool
}

var phoneRegex = regexp.MustCompile(`^\+?[0-9][0-9 ()-]{5,20}$`)

// cmdLogin starts a login. Without arguments it shows a QR code to scan; with a phone number it asks
// WhatsApp for a pairing code to type on the phone. A user who is logged in already adds another
// WhatsApp account (list-logins shows them); linking a number the user has already replaces its
// old device. The login runs in the background so that the bot
// stays responsive (cancel aborts it).
func cmdLogin(ctx context.Context, ce *commandEvent) {
	user := ce.user
	args := ce.args
	if len(args) > 0 && strings.EqualFold(args[0], "phone") {
		args = args[1:]
	}
	var phone string
	if len(args) > 0 {
		phone = strings.Join(args, "")
		if !phoneRegex.MatchString(phone) {
			ce.reply(ctx, "`%s` does not look like a phone number. Use the international format, e.g. `%slogin +4915112345678`.", strings.Join(args, " "), ce.prefix())
			return
		}
		phone = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, phone)
		if user.Account(phone) != nil {
			ce.reply(ctx, "You are already logged in as %s. Send `%slogout %s` first to link it again.", formatPhone(phone), ce.prefix(), formatPhone(phone))
			return
		}
	}
	user.loginLock.Lock()
	if user.login != nil {
		user.loginLock.Unlock()
		ce.reply(ctx, "A login is already in progress. Send `%scancel` to abort it.", ce.prefix())
		return
	}
	timeout := time.Duration(user.br.Config.Bridge.LoginTimeout) * time.Second
	loginCtx, cancel := context.WithTimeout(user.br.ctx, timeout)
	session := &loginSession{cancel: cancel}
	user.login = session
	user.loginLock.Unlock()
	// A new login adds an account; the first one pairs in the user's spare slot.
	user = user.pairingAccount()

	loginCtx = zerolog.Ctx(ctx).With().Bool("pairing_code", phone != "").Logger().WithContext(loginCtx)
	user.br.spawn(func() {
		defer cancel()
		err := user.runLogin(loginCtx, ce, phone, session)
		cancelled := user.endLogin(session)
		switch {
		case err == nil:
		case cancelled:
			ce.reply(ctx, "Login cancelled.")
		case errors.Is(err, whatsapp.ErrUnreachable):
			zerolog.Ctx(loginCtx).Warn().Err(err).Msg("Login failed: WhatsApp unreachable")
			ce.reply(ctx, "Login failed: WhatsApp could not be reached (%v). This is a network or WhatsApp problem, not something you did; send `%slogin` to try again in a moment.", err, ce.prefix())
		case errors.Is(err, context.DeadlineExceeded):
			ce.reply(ctx, "Login timed out: the phone did not link within %d seconds. Send `%slogin` to try again.", int(timeout.Seconds()), ce.prefix())
		case errors.Is(err, context.Canceled):
			// The bridge is shutting down.
		case phone != "" && errors.Is(err, whatsmeow.ErrIQNotFound):
			// WhatsApp answers a pairing code request for a number it does not know with 404.
			ce.reply(ctx, "Login failed: +%s is not on WhatsApp. Check the number (international format, e.g. `%slogin +4915112345678`).", phone, ce.prefix())
		default:
			zerolog.Ctx(loginCtx).Warn().Err(err).Msg("Login failed")
			ce.reply(ctx, "Login failed: %v", err)
		}
	})
}

// cmdCancel aborts a login in progress.
func cmdCancel(ctx context.Context, ce *commandEvent) {
	session := ce.user.cancelLogin()
	switch {
	case session == nil:
		ce.reply(ctx, "There is no login in progress.")
	case session.provisioned:
		ce.reply(ctx, "Login cancelled (it was started through the provisioning API).")
	}
}

// cancelLogin ends the login in progress, if any, and returns it (nil: none ran).
func (user *Account) cancelLogin() *loginSession {
	user.loginLock.Lock()
	defer user.loginLock.Unlock()
	session := user.login
	if session != nil {
		session.cancelled = true
		session.cancel()
	}
	return session
}

// runLogin drives a pairing flow and shows its steps in the room: QR codes as an image (replaced
// by each new code), a pairing code as a reply. The QR image message is removed at the end whatever
// the outcome, so an old code cannot be scanned later.
func (user *Account) runLogin(ctx context.Context, ce *commandEvent, phone string, session *loginSession) error {
	flow, err := user.wa.Pair(ctx, phone)
	if err != nil {
		return err
	}
	defer flow.Cancel()
	user.loginLock.Lock()
	session.flow = flow
	user.loginLock.Unlock()
	var qrEventID id.EventID
	defer func() {
		if qrEventID != "" {
			if _, redactErr := user.br.AS.BotIntent().RedactEvent(user.br.ctx, ce.roomID, qrEventID); redactErr != nil {
				zerolog.Ctx(ctx).Warn().Err(redactErr).Msg("Failed to redact QR code")
			}
		}
	}()
	for {
		step, err := flow.Next(ctx)
		if err != nil {
			return err
		}
		switch step.Kind {
		case whatsapp.StepQR:
			qrEventID = user.sendQR(ctx, ce.roomID, step.Code, qrEventID)
		case whatsapp.StepPairCode:
			ce.reply(ctx, "Open WhatsApp on the phone with number %s, go to *Linked devices* → *Link a device* → *Link with phone number instead*, and enter this code:\n\n**%s**", formatPhone(phone), step.Code)
		case whatsapp.StepPasskey:
			qrEventID = user.showPasskeyRequest(ctx, ce, step, qrEventID) // cmd_passkey.go
		case whatsapp.StepPasskeyCode:
			ce.reply(ctx, "Check that WhatsApp on your phone shows the code **%s**, then send `%spasskey confirm`. Send `%scancel` if it does not.", step.Code, ce.prefix(), ce.prefix())
		case whatsapp.StepSuccess:
			return user.finishLogin(ctx, ce, step.JID)
		}
	}
}

// finishLogin stores the login of a paired and connected device. When that fails the device is
// disconnected, so that the bridge does not run a session it has not recorded.
func (user *Account) finishLogin(ctx context.Context, ce *commandEvent, jid types.JID) error {
	if err := user.setLogin(ctx, jid, jid.User, ""); err != nil {
		user.wa.Disconnect()
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("wa_jid", jid).Msg("Logged in to WhatsApp")
	ce.reply(ctx, "Successfully logged in as %s.%s", formatPhone(jid.User), user.otherLoginsHint(ce.prefix()))
	return nil
}

// sendQR posts the QR code as an image (with the code as text in the body), or replaces the previous
// QR image with the new code. It returns the event to replace next time.
func (user *Account) sendQR(ctx context.Context, roomID id.RoomID, code string, previous id.EventID) id.EventID {
	log := zerolog.Ctx(ctx)
	// Whole pixels per module keep the code sharp for cameras and decoders alike.
	qr, err := qrcode.New(code, qrcode.Medium)
	if err != nil {
		log.Err(err).Msg("Failed to render QR code")
		return previous
	}
	png, err := qr.PNG(-8)
	if err != nil {
		log.Err(err).Msg("Failed to render QR code")
		return previous
	}
	size, _, err := image.DecodeConfig(bytes.NewReader(png))
	if err != nil {
		log.Err(err).Msg("Failed to read rendered QR code")
		return previous
	}
	bot := user.br.AS.BotIntent()
	upload, err := bot.UploadBytes(ctx, png, "image/png")
	if err != nil {
		log.Err(err).Msg("Failed to upload QR code")
		return previous
	}
	content := &event.MessageEventContent{
		MsgType: event.MsgImage,
		Body:    code,
		URL:     upload.ContentURI.CUString(),
		Info:    &event.FileInfo{MimeType: "image/png", Width: size.Width, Height: size.Height, Size: len(png)},
	}
	if previous != "" {
		content.SetEdit(previous)
	}
	resp, err := bot.SendMessageEvent(ctx, roomID, event.EventMessage, content)
	if err != nil {
		log.Err(err).Msg("Failed to send QR code")
		return previous
	}
	if previous == "" {
		user.br.sendBotNotice(ctx, roomID, "Scan this QR code with WhatsApp on your phone: *Settings* → *Linked devices* → *Link a device*. Send `cancel` to abort.")
		return resp.EventID
	}
	return previous
}

// formatPhone renders a WhatsApp user part as an international phone number.
func formatPhone(digits string) string {
	if digits == "" {
		return "an unknown number"
	}
	return "+" + digits
}

// endLogin ends the login session in progress (the chat command's or the provisioning API's) and
// reports whether the user cancelled it.
func (user *Account) endLogin(session *loginSession) (cancelled bool) {
	user.loginLock.Lock()
	defer user.loginLock.Unlock()
	user.login = nil
	return session.cancelled
}

// otherLoginsHint tells a user who now has several logins which one is the default; "" for a
// single login.
func (user *Account) otherLoginsHint(prefix string) string {
	n := len(user.Accounts())
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" You now have %d WhatsApp logins; %s is the default (`%slist-logins`, `%sset-default-login <number>`).",
		n, formatPhone(user.DefaultPhone()), prefix, prefix)
}
