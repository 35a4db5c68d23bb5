package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// StepKind names a step of a pairing flow.
type StepKind int

// The steps a pairing flow yields.
const (
	// StepQR: show Code as a QR code to scan. A new code follows when it expires.
	StepQR StepKind = iota + 1
	// StepPairCode: the user types Code on the phone (pairing with a phone number).
	StepPairCode
	// StepSuccess: the device is linked and connected as JID (and LID); the flow is over.
	StepSuccess
	// StepFailed: pairing failed for the reason in Err; the flow is over.
	StepFailed
	// StepPasskey: WhatsApp asks the user to confirm the link with their passkey (a 2026 step after
	// the QR scan). Passkey holds the WebAuthn request; answer with PairFlow.AnswerPasskey.
	StepPasskey
	// StepPasskeyCode: after the passkey, the user checks that the phone shows Code and confirms
	// with PairFlow.ConfirmPasskey. Skipped when WhatsApp says the check is not needed.
	StepPasskeyCode
)

// ErrUnreachable means WhatsApp could not be reached, or the connection was lost, during a login:
// not a timeout of the user.
var ErrUnreachable = errors.New("WhatsApp could not be reached")

// Step is one thing a pairing flow asks the user to do, or its outcome.
type Step struct {
	Kind StepKind
	// Code is the QR code content (StepQR) or the code to type (StepPairCode).
	Code string
	// JID and LID are the linked account's (StepSuccess).
	JID, LID types.JID
	// Err is why pairing failed (StepFailed). A timeout wraps context.DeadlineExceeded; a lost or
	// impossible connection wraps ErrUnreachable.
	Err error
	// Passkey is the WebAuthn request to sign with the account's passkey (StepPasskey).
	Passkey *types.WebAuthnPublicKey
}

// PairFlow is a pairing in progress: a new device being linked to a WhatsApp account, by QR code
// or by a code typed on the phone. It knows nothing about who shows the steps (a chat command, an
// HTTP API). Next must not be called concurrently; Cancel may be called at any time.
type PairFlow struct {
	items <-chan whatsmeow.QRChannelItem
	// phone is the number to pair with a typed code, "" for QR codes.
	phone string
	// requestCode asks WhatsApp for the code to type on the phone.
	requestCode func(ctx context.Context, phone string) (string, error)
	// finish waits until the paired device is connected and returns the success step.
	finish func(ctx context.Context) (Step, error)
	// abort drops the unfinished device.
	abort func()

	// passkey answers and confirms the passkey step (pair_passkey.go).
	passkey passkeyClient
	// lastCode is when the last QR code arrived and how long it was valid, to tell expired codes
	// from a lost connection (whatsmeow reports both as a timeout item).
	lastCode        time.Time
	lastCodeTimeout time.Duration
	inPasskey       bool
	// passkeyAt is the passkey step the flow last showed (StepPasskey or StepPasskeyCode; 0 before
	// any). Read by AnswerPasskey and ConfirmPasskey, which may run while Next waits.
	passkeyAt atomic.Int32

	codeSent bool
	ctx      context.Context
	cancel   context.CancelFunc
	doneOnce sync.Once
	over     bool
}

// Pair starts linking a new device: by QR code when phone is "", else by a code typed on the phone
// with that number (digits only, international format). ctx bounds the whole flow (its timeout is
// the login timeout); the login's current client is replaced by the new device's.
func (l *Login) Pair(ctx context.Context, phone string) (*PairFlow, error) {
	cli := l.newClient(l.opts.Store.NewDevice())
	l.setIDs(types.EmptyJID, types.EmptyJID)
	connected := l.waitConnected()
	abort := func() {
		if l.Client() == cli {
			l.setClient(nil)
			cli.Disconnect()
		}
	}
	// The QR channel gets a context that is never cancelled: when the flow ends early, abort's
	// Disconnect ends the channel instead. whatsmeow's own cancellation path closes the channel
	// while its code emitter may still be sending on it, a data race.
	items, err := cli.GetQRChannel(context.WithoutCancel(ctx))
	if err != nil {
		abort()
		return nil, fmt.Errorf("failed to start login: %w", err)
	}
	// The socket lives on the login's background context, like every connection of the login, and
	// ends only through abort's Disconnect: were it tied to ctx, its read loop would close it when
	// ctx ends, concurrently with abort, which whatsmeow does not synchronise.
	if err = cli.ConnectContext(l.opts.Background); err != nil {
		abort()
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	requestCode := func(ctx context.Context, phone string) (string, error) {
		return cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	}
	finish := func(ctx context.Context) (Step, error) {
		select {
		case <-connected:
		case <-ctx.Done():
			return Step{}, fmt.Errorf("paired, but the first connection did not come up: %w", context.Cause(ctx))
		}
		jid := l.JID()
		if jid.IsEmpty() {
			return Step{}, errors.New("paired, but WhatsApp did not say which account")
		}
		return Step{Kind: StepSuccess, JID: jid, LID: l.LID()}, nil
	}
	flow := newPairFlow(ctx, items, phone, requestCode, finish, abort)
	flow.passkey = cli
	return flow, nil
}

func newPairFlow(ctx context.Context, items <-chan whatsmeow.QRChannelItem, phone string,
	requestCode func(context.Context, string) (string, error), finish func(context.Context) (Step, error), abort func()) *PairFlow {
	flowCtx, cancel := context.WithCancel(ctx)
	return &PairFlow{items: items, phone: phone, requestCode: requestCode, finish: finish, abort: abort, ctx: flowCtx, cancel: cancel}
}

// Next waits for the flow's next step. After a StepSuccess or StepFailed step the flow is over and
// Next keeps returning a failure. On failure (including ctx or the flow's context ending) the step
// is StepFailed and its Err is also returned; the new device is then disconnected and dropped.
func (f *PairFlow) Next(ctx context.Context) (Step, error) {
	if f.over {
		return f.fail(errors.New("the pairing flow is over"))
	}
	// Whichever of ctx and the flow's context ends first ends the wait; its cause (a deadline or a
	// cancellation) is the failure.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(f.ctx, func() { cancel(f.ctx.Err()) })
	defer stop()
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			return f.fail(context.Cause(ctx))
		case item, ok = <-f.items:
		}
		if !ok {
			return f.fail(errors.New("the connection closed before pairing finished"))
		}
		step, err := f.step(ctx, item)
		if err != nil {
			return f.fail(err)
		}
		if step.Kind == 0 {
			continue
		}
		if step.Kind == StepSuccess {
			f.over = true
			f.doneOnce.Do(f.cancel)
		}
		return step, nil
	}
}

// step maps one item of whatsmeow's QR channel to a step; a zero Step means nothing to show.
func (f *PairFlow) step(ctx context.Context, item whatsmeow.QRChannelItem) (Step, error) {
	switch item.Event {
	case whatsmeow.QRChannelEventCode:
		f.lastCode, f.lastCodeTimeout = time.Now(), item.Timeout
		if f.inPasskey {
			// The passkey step replaced the secret behind the codes: they cannot link any more.
			return Step{}, nil
		}
		if f.phone == "" {
			return Step{Kind: StepQR, Code: item.Code}, nil
		}
		if f.codeSent {
			return Step{}, nil
		}
		code, err := f.requestCode(ctx, f.phone)
		if err != nil {
			return Step{}, fmt.Errorf("failed to request a pairing code: %w", err)
		}
		f.codeSent = true
		return Step{Kind: StepPairCode, Code: code}, nil
	case whatsmeow.QRChannelSuccess.Event:
		return f.finish(ctx)
	case whatsmeow.QRChannelTimeout.Event:
		if f.lastCode.IsZero() || time.Since(f.lastCode) < f.lastCodeTimeout-time.Second {
			// The item came before the last code ran out: the socket closed.
			return Step{}, fmt.Errorf("%w: the connection was lost during the login", ErrUnreachable)
		}
		return Step{}, fmt.Errorf("%w: the QR codes expired", context.DeadlineExceeded)
	case whatsmeow.QRChannelEventPasskeyRequest, whatsmeow.QRChannelEventPasskeyResponse:
		f.inPasskey = true
		step, err := passkeyStep(item)
		if err == nil {
			f.passkeyAt.Store(int32(step.Kind))
		}
		return step, err
	case whatsmeow.QRChannelEventError:
		return Step{}, fmt.Errorf("pairing failed: %w", item.Error)
	default:
		return Step{}, fmt.Errorf("pairing failed: %s", item.Event)
	}
}

// fail ends the flow with err.
func (f *PairFlow) fail(err error) (Step, error) {
	f.over = true
	f.Cancel()
	return Step{Kind: StepFailed, Err: err}, err
}

// Cancel ends the flow: a Next in progress returns a failure wrapping context.Canceled, and the
// new device is dropped unless pairing already succeeded. It is safe to call more than once.
func (f *PairFlow) Cancel() {
	f.doneOnce.Do(func() {
		f.cancel()
		f.abort()
	})
}
