package whatsapp

import (
	"sync"
	"time"
)

// retryState is a login's memory across connection attempts: the backoff, whether the last attempt
// failed to come up, the alerts already shown and the generation of a scheduled retry. It lives as
// long as the login, so that a connection WhatsApp refuses again and again (503, a silent socket)
// is retried ever more slowly even though each refusal starts a new connect loop.
type retryState struct {
	lock    sync.Mutex
	delays  backoff
	failing bool // an attempt was made and has not reached Connected
	alerted map[AlertKind]bool
	gen     uint64
}

// beforeAttempt returns how long to wait before the next attempt: nothing after a connection that
// came up (or the first attempt), else the next backoff delay.
func (r *retryState) beforeAttempt() time.Duration {
	r.lock.Lock()
	defer r.lock.Unlock()
	var wait time.Duration
	if r.failing {
		wait = r.delays.next()
	}
	r.failing = true
	return wait
}

// connected forgets the failures and the alerts shown: the next problem starts afresh.
func (r *retryState) connected() {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.failing = false
	r.delays.reset()
	clear(r.alerted)
}

// up reports whether the connection came up since the last attempt started.
func (r *retryState) up() bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	return !r.failing
}

// now makes the next attempt go at once (the user asked, or a ban ended) and cancels a scheduled
// retry.
func (r *retryState) now() {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.failing = false
	r.delays.reset()
	r.gen++
}

// firstAlert reports whether an alert of this kind was not shown since the last connection.
func (r *retryState) firstAlert(kind AlertKind) bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	if r.alerted == nil {
		r.alerted = make(map[AlertKind]bool)
	}
	if r.alerted[kind] {
		return false
	}
	r.alerted[kind] = true
	return true
}

// schedule starts a new retry generation and returns it; current tells whether it still stands.
func (r *retryState) schedule() uint64 {
	r.lock.Lock()
	defer r.lock.Unlock()
	r.gen++
	return r.gen
}

func (r *retryState) current(gen uint64) bool {
	r.lock.Lock()
	defer r.lock.Unlock()
	return r.gen == gen
}
