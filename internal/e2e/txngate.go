package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"sync"
	"time"
)

// transactionGate is a reverse proxy between the homeserver and the bridge's appservice port
// (Options.TransactionGate): the homeserver's pushes pass through it, and a test can hold the
// transactions it chooses, as a slow or unreachable bridge would, lose the bridge's answer to one,
// as a bridge that dies right after storing it would, and see what passed.
type transactionGate struct {
	server *http.Server
	addr   string

	lock sync.Mutex
	// hold picks the transactions to hold; released is closed when they may pass.
	hold     func(body []byte) bool
	released chan struct{}
	// loseAnswer picks the next transaction whose answer is lost (then it is cleared).
	loseAnswer func(body []byte) bool
	lost       int
	pushes     []TransactionPush
	// notRecording stops pushes from being kept (RecordTransactionPushes).
	notRecording bool
}

// TransactionPush is one push of the homeserver seen by the transaction gate.
type TransactionPush struct {
	// ID is the transaction ID, the last segment of the request path.
	ID   string
	Body []byte
	// At is when the gate had read the push's headers, before its body.
	At time.Time
}

// newTransactionGate listens on a loopback port and forwards every request to target.
func newTransactionGate(target string) (*transactionGate, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen for the transaction gate: %w", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	g := &transactionGate{addr: listener.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	}
	g.server = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			at := time.Now()
			body, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			g.lock.Lock()
			if !g.notRecording {
				g.pushes = append(g.pushes, TransactionPush{ID: path.Base(r.URL.Path), Body: body, At: at})
			}
			hold, released := g.hold, g.released
			lose := g.loseAnswer != nil && g.loseAnswer(body)
			if lose {
				g.loseAnswer = nil
			}
			g.lock.Unlock()
			if hold != nil && hold(body) {
				// Held until released, or until the homeserver gives up on the request.
				select {
				case <-released:
				case <-r.Context().Done():
					return
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			if !lose {
				proxy.ServeHTTP(w, r)
				return
			}
			// The bridge gets the transaction and answers; the homeserver gets a failure instead.
			answer := httptest.NewRecorder()
			proxy.ServeHTTP(answer, r)
			g.lock.Lock()
			g.lost++
			g.lock.Unlock()
			w.WriteHeader(http.StatusBadGateway)
		}),
	}
	go func() { _ = g.server.Serve(listener) }()
	return g, nil
}

func (g *transactionGate) url() string { return "http://" + g.addr }

func (g *transactionGate) close() { _ = g.server.Close() }

// HoldTransactions holds every push from the homeserver whose body hold accepts, without answering
// it, until ReleaseTransactions (or until the homeserver gives up on it). It needs
// Options.TransactionGate.
func (e *Env) HoldTransactions(hold func(body []byte) bool) {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	g.hold, g.released = hold, make(chan struct{})
}

// ReleaseTransactions lets the held pushes and all later ones pass.
func (e *Env) ReleaseTransactions() {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	if g.released != nil {
		close(g.released)
	}
	g.hold, g.released = nil, nil
}

// LoseAnswer passes the next push whose body lose accepts to the bridge but answers the
// homeserver 502 instead of the bridge's answer, as if the bridge had died after storing it. It
// needs Options.TransactionGate.
func (e *Env) LoseAnswer(lose func(body []byte) bool) {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	g.loseAnswer = lose
}

// AnswersLost counts the pushes whose answer LoseAnswer lost so far.
func (e *Env) AnswersLost() int {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	return g.lost
}

// TransactionPushes returns the homeserver's pushes so far, in arrival order, held ones included.
// It needs Options.TransactionGate.
func (e *Env) TransactionPushes() []TransactionPush {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	return slices.Clone(g.pushes)
}

// RecordTransactionPushes sets whether the gate keeps the pushes it passes (it does from the start)
// for TransactionPushes and TransactionsContaining; off, it also forgets those it kept, so that a
// long benchmark does not hold every push in memory. It needs Options.TransactionGate.
func (e *Env) RecordTransactionPushes(on bool) {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	g.notRecording = !on
	if !on {
		g.pushes = nil
	}
}

// TransactionsContaining counts the pushes from the homeserver so far whose body contains text,
// held ones included. It needs Options.TransactionGate.
func (e *Env) TransactionsContaining(text string) int {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	n := 0
	for _, push := range g.pushes {
		if bytes.Contains(push.Body, []byte(text)) {
			n++
		}
	}
	return n
}

func (e *Env) requireGate() *transactionGate {
	e.t.Helper()
	if e.gate == nil {
		e.t.Fatalf("e2e: the environment has no transaction gate (Options.TransactionGate)")
	}
	return e.gate
}
