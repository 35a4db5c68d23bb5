package whatsapp

import (
	"context"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// passkeyClient is what the passkey step needs from the pairing client (*whatsmeow.Client,
// pair-passkey.go).
type passkeyClient interface {
	SendPasskeyResponse(ctx context.Context, resp *types.WebAuthnResponse) error
	SendPasskeyConfirmation(ctx context.Context) error
}

var _ passkeyClient = (*whatsmeow.Client)(nil)

// errNoPasskeyStep means AnswerPasskey or ConfirmPasskey was called on a flow that cannot take it.
var errNoPasskeyStep = errors.New("this login has no passkey step")

// ErrNotAtPasskeyStep means the login has not reached the passkey step the answer is for:
// AnswerPasskey before WhatsApp asked for the passkey (StepPasskey), ConfirmPasskey before it showed
// the code to compare (StepPasskeyCode). Nothing was sent to WhatsApp.
var ErrNotAtPasskeyStep = errors.New("the login is not waiting for that passkey step")

// passkeyStep maps the QR channel's passkey items to steps: the request to sign, and the code to
// compare with the phone (whatsmeow confirms on its own, and sends no item, when the check can be
// skipped).
func passkeyStep(item whatsmeow.QRChannelItem) (Step, error) {
	switch {
	case item.Event == whatsmeow.QRChannelEventPasskeyRequest && item.PasskeyRequest != nil && item.PasskeyRequest.PublicKey != nil:
		return Step{Kind: StepPasskey, Passkey: item.PasskeyRequest.PublicKey}, nil
	case item.Event == whatsmeow.QRChannelEventPasskeyResponse && item.PasskeyConfirmation != nil:
		return Step{Kind: StepPasskeyCode, Code: item.PasskeyConfirmation.Code}, nil
	}
	return Step{}, fmt.Errorf("pairing failed: WhatsApp sent an incomplete passkey step (%s)", item.Event)
}

// AnswerPasskey sends the user's WebAuthn assertion for a StepPasskey. An error means WhatsApp did
// not accept it (wrapping whatsmeow's IQ error) and the user may answer again; the flow goes on
// either way. It may be called while Next waits.
func (f *PairFlow) AnswerPasskey(ctx context.Context, resp *types.WebAuthnResponse) error {
	if f.passkey == nil {
		return errNoPasskeyStep
	}
	if StepKind(f.passkeyAt.Load()) != StepPasskey {
		return ErrNotAtPasskeyStep
	}
	if err := f.passkey.SendPasskeyResponse(ctx, resp); err != nil {
		return fmt.Errorf("failed to send the passkey answer: %w", err)
	}
	return nil
}

// ConfirmPasskey tells WhatsApp that the user saw the code of a StepPasskeyCode on the phone. It
// may be called while Next waits.
func (f *PairFlow) ConfirmPasskey(ctx context.Context) error {
	if f.passkey == nil {
		return errNoPasskeyStep
	}
	if StepKind(f.passkeyAt.Load()) != StepPasskeyCode {
		return ErrNotAtPasskeyStep
	}
	if err := f.passkey.SendPasskeyConfirmation(ctx); err != nil {
		return fmt.Errorf("failed to confirm the passkey code: %w", err)
	}
	return nil
}
