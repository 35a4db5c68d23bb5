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
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// loginSession is a QR or pairing-code login in progress. At most one runs per user.
type loginSession struct {
	cancel    context.CancelFunc
	cancelled bool
}

var phoneRegex = regexp.MustCompile(`^\+?[0-9][0-9 ()-]{5,20}$`)

// cmdLogin starts a login. Without arguments it shows a QR code to scan; with a phone number it asks
// WhatsApp for a pairing code to type on the phone. The login runs in the background so that the bot
// stays responsive (cancel aborts it).
func cmdLogin(ctx context.Context, ce *commandEvent) {
	user := ce.user
	if !user.WAJID().IsEmpty() {
		ce.reply(ctx, "You are already logged in as %s. Send `%slogout` first to log in with another account.", formatPhone(user.WAJID().User), ce.prefix())
		return
	}
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

	loginCtx = zerolog.Ctx(ctx).With().Bool("pairing_code", phone != "").Logger().WithContext(loginCtx)
	user.br.spawn(func() {
		defer cancel()
		err := user.runLogin(loginCtx, ce, phone)
		user.loginLock.Lock()
		cancelled := session.cancelled
		user.login = nil
		user.loginLock.Unlock()
		switch {
		case err == nil:
		case cancelled:
			ce.reply(ctx, "Login cancelled.")
		case errors.Is(err, context.DeadlineExceeded):
			ce.reply(ctx, "Login timed out: the phone did not link within %d seconds. Send `%slogin` to try again.", int(timeout.Seconds()), ce.prefix())
		case errors.Is(err, context.Canceled):
			// The bridge is shutting down.
		default:
			zerolog.Ctx(loginCtx).Warn().Err(err).Msg("Login failed")
			ce.reply(ctx, "Login failed: %v", err)
		}
	})
}

// cmdCancel aborts a login in progress.
func cmdCancel(ctx context.Context, ce *commandEvent) {
	user := ce.user
	user.loginLock.Lock()
	session := user.login
	if session != nil {
		session.cancelled = true
		session.cancel()
	}
	user.loginLock.Unlock()
	if session == nil {
		ce.reply(ctx, "There is no login in progress.")
	}
}

// runLogin pairs a new device and waits until it is connected. The QR image message is removed at
// the end whatever the outcome, so an old code cannot be scanned later.
func (user *User) runLogin(ctx context.Context, ce *commandEvent, phone string) (err error) {
	log := zerolog.Ctx(ctx)
	device := user.br.DB.WhatsmeowContainer().NewDevice()
	cli := user.newClient(device)
	user.setClient(cli)
	connected := user.waitConnected()
	var qrEventID id.EventID
	defer func() {
		if qrEventID != "" {
			if _, redactErr := user.br.AS.BotIntent().RedactEvent(user.br.ctx, ce.roomID, qrEventID); redactErr != nil {
				log.Warn().Err(redactErr).Msg("Failed to redact QR code")
			}
		}
		if err != nil && user.getClient() == cli {
			user.setClient(nil)
			cli.Disconnect()
		}
	}()

	// The QR channel gets a context that is never cancelled: when the login times out or is
	// cancelled, the deferred Disconnect ends it instead. whatsmeow's own cancellation path closes
	// the channel while its code emitter may still be sending on it, a data race.
	qrChan, err := cli.GetQRChannel(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("failed to start login: %w", err)
	}
	if err = cli.ConnectContext(ctx); err != nil {
		return fmt.Errorf("failed to connect to WhatsApp: %w", err)
	}
	pairCodeSent := false
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case item, ok = <-qrChan:
		}
		if !ok {
			return errors.New("the connection closed before pairing finished")
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if phone == "" {
				qrEventID = user.sendQR(ctx, ce.roomID, item.Code, qrEventID)
			} else if !pairCodeSent {
				code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
				if err != nil {
					return fmt.Errorf("failed to request a pairing code: %w", err)
				}
				pairCodeSent = true
				ce.reply(ctx, "Open WhatsApp on the phone with number %s, go to *Linked devices* → *Link a device* → *Link with phone number instead*, and enter this code:\n\n**%s**", formatPhone(phone), code)
			}
		case whatsmeow.QRChannelSuccess.Event:
			return user.finishLogin(ctx, ce, cli, connected)
		case whatsmeow.QRChannelTimeout.Event:
			return fmt.Errorf("%w: the QR codes expired", context.DeadlineExceeded)
		case whatsmeow.QRChannelEventError:
			return fmt.Errorf("pairing failed: %w", item.Error)
		default:
			return fmt.Errorf("pairing failed: %s", item.Event)
		}
	}
}

// finishLogin waits for the paired device's first connection and stores the login.
func (user *User) finishLogin(ctx context.Context, ce *commandEvent, cli *whatsmeow.Client, connected <-chan struct{}) error {
	select {
	case <-connected:
	case <-ctx.Done():
		return fmt.Errorf("paired, but the first connection did not come up: %w", ctx.Err())
	}
	jid := user.paired()
	if jid.IsEmpty() {
		return errors.New("paired, but WhatsApp did not say which account")
	}
	if err := user.setLogin(ctx, jid, jid.User, ""); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Stringer("wa_jid", jid).Msg("Logged in to WhatsApp")
	ce.reply(ctx, "Successfully logged in as %s.", formatPhone(jid.User))
	return nil
}

// sendQR posts the QR code as an image (with the code as text in the body), or replaces the previous
// QR image with the new code. It returns the event to replace next time.
func (user *User) sendQR(ctx context.Context, roomID id.RoomID, code string, previous id.EventID) id.EventID {
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
