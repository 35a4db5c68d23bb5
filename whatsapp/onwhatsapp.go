package whatsapp

import (
	"context"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/types"
)

// ErrNotOnWhatsApp means WhatsApp answered that no account has the phone number.
var ErrNotOnWhatsApp = errors.New("not on WhatsApp")

// CheckOnWhatsApp asks WhatsApp whether the phone number (digits only, international format) has
// an account, with whatsmeow's IsOnWhatsApp (a usync contact query). It returns the account's
// phone JID as WhatsApp spells it, ErrNotOnWhatsApp when WhatsApp says there is none, or another
// error when WhatsApp could not be asked (ErrNotLoggedIn without a client).
func (l *Login) CheckOnWhatsApp(ctx context.Context, digits string) (types.JID, error) {
	cli := l.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return types.EmptyJID, ErrNotLoggedIn
	}
	resp, err := cli.IsOnWhatsApp(ctx, []string{"+" + digits})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("failed to ask WhatsApp about +%s: %w", digits, err)
	}
	return onWhatsAppJID(resp, digits)
}

// onWhatsAppJID picks the answer for digits out of an IsOnWhatsApp response: the phone JID when
// the number is registered (IsIn), ErrNotOnWhatsApp when WhatsApp answered "out" or did not list
// the number at all.
func onWhatsAppJID(resp []types.IsOnWhatsAppResponse, digits string) (types.JID, error) {
	for _, r := range resp {
		if r.Query != "+"+digits && r.Query != digits {
			continue
		}
		if !r.IsIn {
			break
		}
		switch {
		case r.PhoneNumber.Server == types.DefaultUserServer:
			return r.PhoneNumber.ToNonAD(), nil
		case r.JID.Server == types.DefaultUserServer:
			return r.JID.ToNonAD(), nil
		}
		return types.NewJID(digits, types.DefaultUserServer), nil
	}
	return types.EmptyJID, fmt.Errorf("+%s is %w", digits, ErrNotOnWhatsApp)
}
