package wasim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"go.mau.fi/whatsmeow/util/keys"
	waLog "go.mau.fi/whatsmeow/util/log"
	_ "modernc.org/sqlite" // pure-Go SQLite driver for simulated clients' stores

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/wasend"
)

// rewriteTransport sends every request to the simulator over plain HTTP, whatever host and scheme
// the client asked for (wss://web.whatsapp.com, https://mmg.whatsapp.net, ...).
type rewriteTransport struct {
	srv   *Server
	inner *http.Transport
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme = "http"
	u.Host = t.srv.Addr()
	out.URL = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	out.Host = req.URL.Host
	return t.inner.RoundTrip(out)
}

// HTTPClient returns a client that delivers every request to this simulator over plain HTTP by
// rewriting the URL. It is meant for clients in the same process (tests).
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: &rewriteTransport{srv: s, inner: &http.Transport{
		Proxy:             nil,
		ForceAttemptHTTP2: false,
		DisableKeepAlives: false,
		IdleConnTimeout:   30 * time.Second,
	}}}
}

// TLSHTTPClient returns a client that keeps the request URLs but dials the simulator and trusts
// its CA: the same wiring an external process gets from a dial address and a CA file.
func (s *Server) TLSHTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, s.Addr())
		},
		TLSClientConfig:   &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
		ForceAttemptHTTP2: false,
		IdleConnTimeout:   30 * time.Second,
	}}
}

// ConfigureClient points cli's websocket, pre-login and media traffic at this simulator and makes
// whatsmeow trust the simulator's root key. Call it before cli.Connect.
func (s *Server) ConfigureClient(cli *whatsmeow.Client) {
	s.installRootKey()
	hc := s.HTTPClient()
	cli.SetWebsocketHTTPClient(hc)
	cli.SetPreLoginHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
}

func (s *Server) installRootKey() {
	if err := InstallRootKey(*s.root.Pub); err != nil {
		s.log.Error().Err(err).Msg("In-process client will not trust this server's root key")
	}
}

// NewClient wraps dev in a whatsmeow client configured for this simulator, logging through the
// server's client logger.
//
// Like a real phone, which never encrypts and decrypts one Signal session at the same time, the
// client's session loads and stores take turns (internal/sessionlock): whatsmeow alone can reuse a
// message counter when a message arrives while one is being sent to the same device. Like a real
// phone, it answers retry receipts for every message it sent (whatsmeow's retry store in the
// device's database), not only for the latest 256.
func (s *Server) NewClient(dev *store.Device) *whatsmeow.Client {
	sessionlock.Install(dev, nil, s.clientLog)
	cli := whatsmeow.NewClient(dev, waLog.Zerolog(s.clientLog))
	cli.AddEventHandler(func(evt any) {
		if u, ok := evt.(*events.UndecryptableMessage); ok {
			sessionlock.ReleaseSender(cli.Store, u.Info.Sender, u.Info.SenderAlt)
		}
	})
	// A phone answers a retry receipt from its message database, for any message it sent; whatsmeow
	// alone keeps only its latest 256 sent messages for that, in memory.
	cli.UseRetryMessageStore = true
	s.ConfigureClient(cli)
	return cli
}

// sendMessage sends msg with cli as a phone's app would: marked as a send for internal/sessionlock
// (BeginSend, EndSend), so that its Signal session leases last as long as it runs and end when it
// returns, and without ever cancelling whatsmeow's send, which could crash the process
// (internal/wasend), as the bridge's sends do (whatsapp.LeaseEndingClient).
func sendMessage(ctx context.Context, cli *whatsmeow.Client, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	return wasend.Message(ctx, cli, to, msg, extra...)
}

// OpenStore opens (creating if needed) a whatsmeow store in the SQLite file at path, with the
// pragmas concurrent whatsmeow use needs (foreign keys, WAL, busy timeout).
func OpenStore(ctx context.Context, path string, log waLog.Logger) (*sqlstore.Container, error) {
	container, _, err := openStore(ctx, path, log)
	return container, err
}

// openStore is OpenStore, also returning the store's database.
func openStore(ctx context.Context, path string, log waLog.Logger) (*sqlstore.Container, *sql.DB, error) {
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to open store: %w", err)
	}
	container := sqlstore.NewWithDB(db, "sqlite3", log)
	if err = container.Upgrade(ctx); err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("failed to upgrade store: %w", err)
	}
	return container, db, nil
}

// phonePreKeyCount is how many one-time prekeys a simulated phone starts with: as many as whatsmeow
// uploads when a device first connects with none (Client.uploadPreKeys with initialUpload).
const phonePreKeyCount = 812

// phonePreKeys are the one-time prekeys every simulated phone starts with, made once per process.
// A phone is provisioned as one that has been in use: its keys are in its store, marked uploaded,
// and on the server (provisionPhone). Left to whatsmeow, each phone's first connection would make
// and upload them, one key and one INSERT at a time (SQLStore.GetOrGenPreKeys), and read them back,
// computing each public key again: three quarters of the simulator tests' CPU. Phones sharing
// prekeys is harmless here: a session made with one is still bound to its phone's own identity and
// signed prekey.
var phonePreKeys = sync.OnceValue(func() []*keys.PreKey {
	pool := make([]*keys.PreKey, phonePreKeyCount)
	for i := range pool {
		pool[i] = keys.NewPreKey(uint32(i + 1))
	}
	return pool
})

// seedPreKeys stores phonePreKeys as device jid's uploaded prekeys, as SQLStore stores the ones it
// made and uploaded (whatsmeow_pre_keys, key IDs from 1; later ones continue from the highest), in
// one transaction, and returns them as the server keeps them.
func seedPreKeys(ctx context.Context, db *sql.DB, jid types.JID) ([]preKey, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to seed prekeys: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO whatsmeow_pre_keys (jid, key_id, key, uploaded) VALUES ($1, $2, $3, true)`)
	if err != nil {
		return nil, fmt.Errorf("failed to seed prekeys: %w", err)
	}
	defer stmt.Close()
	pool := phonePreKeys()
	onServer := make([]preKey, len(pool))
	for i, key := range pool {
		if _, err = stmt.ExecContext(ctx, jid.String(), key.KeyID, key.Priv[:]); err != nil {
			return nil, fmt.Errorf("failed to seed prekeys: %w", err)
		}
		onServer[i] = preKey{id: key.KeyID, pub: *key.Pub}
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to seed prekeys: %w", err)
	}
	return onServer, nil
}
