package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// transactionGate is a reverse proxy between the homeserver and the bridge's appservice port
// (Options.TransactionGate): the homeserver's pushes pass through it, and a test can hold the
// transactions it chooses, as a slow or unreachable bridge would, and count what passed.
type transactionGate struct {
	server *http.Server
	addr   string

	lock sync.Mutex
	// hold picks the transactions to hold; released is closed when they may pass.
	hold     func(body []byte) bool
	released chan struct{}
	bodies   [][]byte
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
			body, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			g.lock.Lock()
			g.bodies = append(g.bodies, body)
			hold, released := g.hold, g.released
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
			proxy.ServeHTTP(w, r)
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

// TransactionsContaining counts the pushes from the homeserver so far whose body contains text,
// held ones included. It needs Options.TransactionGate.
func (e *Env) TransactionsContaining(text string) int {
	e.t.Helper()
	g := e.requireGate()
	g.lock.Lock()
	defer g.lock.Unlock()
	n := 0
	for _, body := range g.bodies {
		if bytes.Contains(body, []byte(text)) {
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
