package whatsapp

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

type fakePasskeyClient struct {
	answers, confirms int
	err               error
}

func (f *fakePasskeyClient) SendPasskeyResponse(context.Context, *types.WebAuthnResponse) error {
	f.answers++
	return f.err
}

func (f *fakePasskeyClient) SendPasskeyConfirmation(context.Context) error {
	f.confirms++
	return f.err
}

func TestPairFlowPasskeySteps(t *testing.T) {
	tf := newTestFlow(t, "", nil)
	fake := &fakePasskeyClient{}
	tf.passkey = fake
	opts := &types.WebAuthnPublicKey{Challenge: []byte("challenge"), RelyingPartID: "whatsapp.com"}
	tf.items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "qr1", Timeout: time.Minute}
	tf.items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventPasskeyRequest, PasskeyRequest: &events.PairPasskeyRequest{PublicKey: opts}}
	// Codes after the passkey request are dead and not shown.
	tf.items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "qr2", Timeout: time.Minute}
	tf.items <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventPasskeyResponse, PasskeyConfirmation: &events.PairPasskeyConfirmation{Code: "ABCD-EFGH"}}
	tf.items <- whatsmeow.QRChannelSuccess
	ctx := context.Background()
	want := []Step{{Kind: StepQR, Code: "qr1"}, {Kind: StepPasskey, Passkey: opts}, {Kind: StepPasskeyCode, Code: "ABCD-EFGH"}, {Kind: StepSuccess}}
	for i, w := range want {
		step, err := tf.Next(ctx)
		if err != nil || step.Kind != w.Kind || step.Code != w.Code || step.Passkey != w.Passkey {
			t.Fatalf("step %d: %+v, %v; want %+v", i, step, err, w)
		}
		switch step.Kind {
		case StepQR:
			// Nothing to answer yet: nothing goes to WhatsApp.
			if err = tf.AnswerPasskey(ctx, &types.WebAuthnResponse{}); !errors.Is(err, ErrNotAtPasskeyStep) || fake.answers != 0 {
				t.Fatalf("AnswerPasskey before the passkey step: %v after %d answers", err, fake.answers)
			}
		case StepPasskey:
			if err = tf.ConfirmPasskey(ctx); !errors.Is(err, ErrNotAtPasskeyStep) || fake.confirms != 0 {
				t.Fatalf("ConfirmPasskey before the code: %v after %d confirmations", err, fake.confirms)
			}
			// A refused answer can be sent again.
			fake.err = whatsmeow.ErrIQNotAuthorized
			if err = tf.AnswerPasskey(ctx, &types.WebAuthnResponse{}); !errors.Is(err, whatsmeow.ErrIQNotAuthorized) {
				t.Fatalf("a refused answer: %v", err)
			}
			fake.err = nil
			if err = tf.AnswerPasskey(ctx, &types.WebAuthnResponse{}); err != nil || fake.answers != 2 {
				t.Fatalf("AnswerPasskey: %v after %d answers", err, fake.answers)
			}
		case StepPasskeyCode:
			if err = tf.ConfirmPasskey(ctx); err != nil || fake.confirms != 1 {
				t.Fatalf("ConfirmPasskey: %v after %d confirmations", err, fake.confirms)
			}
		}
	}
}

func TestPairFlowConnectionLost(t *testing.T) {
	for _, tt := range []struct {
		name  string
		items []whatsmeow.QRChannelItem
	}{
		{"before any code", []whatsmeow.QRChannelItem{whatsmeow.QRChannelTimeout}},
		{"while a code is valid", []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventCode, Code: "qr1", Timeout: time.Minute}, whatsmeow.QRChannelTimeout}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tf := newTestFlow(t, "", nil)
			for _, item := range tt.items {
				tf.items <- item
			}
			var err error
			for err == nil {
				_, err = tf.Next(context.Background())
			}
			if !errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want an unreachable error that is not a timeout", err)
			}
		})
	}
}
