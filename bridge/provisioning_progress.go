package bridge

import (
	"context"
	"sync"
	"time"
)

// apiLoginStep is one step of a login started through the provisioning API, as clients see it.
type apiLoginStep struct {
	// Seq numbers the steps of one login from 1; a client long-polls for a Seq above the last it saw.
	Seq int `json:"seq"`
	// Type is qr (show Code as a QR code), pair_code (type Code on the phone), success (Phone is
	// logged in) or failed (Error says why). success and failed end the login.
	Type  string `json:"type"`
	Code  string `json:"code,omitempty"`
	Phone string `json:"phone,omitempty"`
	Error string `json:"error,omitempty"`
	// Errcode names the failure for programs where the bridge has a code for it (errcodeNotOnWhatsApp).
	Errcode string `json:"errcode,omitempty"`
}

// done reports whether the step ends the login.
func (s apiLoginStep) done() bool { return s.Type == "success" || s.Type == "failed" }

// apiLogin is the progress of a login started through the provisioning API. It outlives the login,
// so that a client polling for the outcome sees it after the login ended.
type apiLogin struct {
	lock sync.Mutex
	step apiLoginStep
	// changed is closed (and replaced) on every new step.
	changed chan struct{}
}

func newAPILogin() *apiLogin {
	return &apiLogin{changed: make(chan struct{})}
}

// set records the next step and wakes the waiters. Steps after one that ended the login are
// ignored.
func (a *apiLogin) set(step apiLoginStep) {
	a.lock.Lock()
	defer a.lock.Unlock()
	if a.step.done() {
		return
	}
	step.Seq = a.step.Seq + 1
	a.step = step
	close(a.changed)
	a.changed = make(chan struct{})
}

// wait returns the first step with a Seq above after, waiting for it up to maxWait (or until ctx
// ends); then it returns the current step, which may be the one the client has seen.
func (a *apiLogin) wait(ctx context.Context, after int, maxWait time.Duration) apiLoginStep {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		a.lock.Lock()
		step, changed := a.step, a.changed
		a.lock.Unlock()
		if step.Seq > after {
			return step
		}
		select {
		case <-changed:
		case <-timer.C:
			return step
		case <-ctx.Done():
			return step
		}
	}
}
