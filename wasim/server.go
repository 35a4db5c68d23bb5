package wasim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/util/keys"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a free loopback port).
	Addr string
	// RootKey is the 32-byte private key of the Noise certificate root. Nil means the per-process
	// default (see DefaultRootPublicKey), which in-process clients trust automatically.
	RootKey *[32]byte
	// Log receives the simulator's own logs. Nil means no logging.
	Log *zerolog.Logger
	// ClientLog receives the whatsmeow logs of simulated phones and contacts, at warn level and
	// above. Nil means Log.
	ClientLog *zerolog.Logger
	// DataDir is where simulated phones keep their whatsmeow stores. Empty means a temporary
	// directory that Close removes.
	DataDir string
	// LenientPresence turns off the strict presence rules (see presence.go): typing is then
	// forwarded between any online devices, and messages carry the sender's account push name
	// whether or not the sending device announced it. Off by default: the simulator follows
	// WhatsApp's rules.
	LenientPresence bool
}

// Server is one simulated WhatsApp service. Its state (accounts, devices, prekeys, offline queues)
// lives in memory for the server's whole life and survives Restart; only listeners and
// connections come and go.
type Server struct {
	log       zerolog.Logger
	clientLog zerolog.Logger

	root      *keys.KeyPair
	static    *keys.KeyPair
	certChain []byte
	tlsConfig *tls.Config
	caPEM     []byte

	dataDir    string
	ownDataDir bool
	idPrefix   string
	idCounter  atomic.Uint64

	// stateLock guards every account, device, queue and the connection bookkeeping below.
	stateLock    sync.Mutex
	accounts     map[string]*Account // by PN user
	accountsLID  map[string]*Account // by LID user
	pendingRefs  map[string]*conn    // QR ref -> registration socket
	pendingCodes map[string]*pairCodeRequest
	groups       map[string]*group // by group user; see group.go
	// inviteCodes maps every invite link code ever issued to its group; see group_invite.go.
	inviteCodes map[string]inviteCode
	pictures    map[string]*picture // by PN user or group user; see picture.go
	// deliveryDelay holds stanzas back before they are written live; see SetDeliveryDelay.
	deliveryDelay time.Duration
	// deliverRepeats delivers a message whose ID its sender used before; see repeats.go.
	deliverRepeats bool
	// messageTap is TapMessages' callback (nil when none is installed); see tap.go.
	messageTap atomic.Pointer[func(MessageTap)]
	// groupLimit bounds group queries per account; see ratelimit.go.
	groupLimit groupQueryLimit
	// offline holds the queue expiry and the companion offline limit; see offline.go.
	offline offlinePolicy
	// holds are the messages kept back per held chat; see hold.go. releaseLock keeps two releases
	// from interleaving.
	holds       map[string][]heldMessage
	releaseLock sync.Mutex
	conns       map[*conn]struct{}
	outage      bool
	closed      bool

	// listenLock guards the listener and HTTP server, which Restart replaces.
	listenLock sync.Mutex
	addr       string
	listener   net.Listener
	httpServer *http.Server
	mux        *http.ServeMux

	media *mediaStore // uploaded media; see media.go

	lenientPresence bool // Options.LenientPresence; fixed for the server's life
}

// New starts a simulator listening on Options.Addr.
func New(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{
		log:          zerolog.Nop(),
		accounts:     make(map[string]*Account),
		accountsLID:  make(map[string]*Account),
		pendingRefs:  make(map[string]*conn),
		pendingCodes: make(map[string]*pairCodeRequest),
		conns:        make(map[*conn]struct{}),

		lenientPresence: opts.LenientPresence,
	}
	if opts.Log != nil {
		s.log = opts.Log.With().Str("component", "wasim").Logger()
	}
	clientLog := s.log
	if opts.ClientLog != nil {
		clientLog = *opts.ClientLog
	}
	s.clientLog = clientLog.Level(max(zerolog.WarnLevel, clientLog.GetLevel())).With().Str("source", "whatsmeow").Logger()
	if opts.RootKey != nil {
		s.root = keys.NewKeyPairFromPrivateKey(*opts.RootKey)
	} else {
		s.root = defaultRootKey()
	}
	s.static = keys.NewKeyPair()
	var err error
	if s.certChain, err = makeCertChain(s.root, *s.static.Pub); err != nil {
		return nil, fmt.Errorf("failed to make certificate chain: %w", err)
	}
	cert, caPEM, err := makeTLS()
	if err != nil {
		return nil, fmt.Errorf("failed to make TLS certificate: %w", err)
	}
	s.caPEM = caPEM
	s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	prefix := make([]byte, 4)
	_, _ = rand.Read(prefix)
	s.idPrefix = hex.EncodeToString(prefix)
	if opts.DataDir != "" {
		s.dataDir = opts.DataDir
		if err = os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("failed to create data directory: %w", err)
		}
	} else {
		if s.dataDir, err = os.MkdirTemp("", "wasim-*"); err != nil {
			return nil, fmt.Errorf("failed to create data directory: %w", err)
		}
		s.ownDataDir = true
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/ws/chat", s.handleWebsocket)
	s.addRoutes() // media endpoints and the control API; see media.go
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err = s.listen(addr); err != nil {
		return nil, err
	}
	s.addr = s.listener.Addr().String()
	s.log.Info().Str("addr", s.addr).Msg("Simulator listening")
	return s, nil
}

// Addr is the "127.0.0.1:port" the simulator listens on, for plain HTTP and TLS alike.
func (s *Server) Addr() string {
	s.listenLock.Lock()
	defer s.listenLock.Unlock()
	return s.addr
}

// RootPublicKey is the key clients must put in whatsmeow.WACertPubKey.
func (s *Server) RootPublicKey() [32]byte {
	return *s.root.Pub
}

// RootPublicKeyHex is RootPublicKey in hex, the form given to other processes.
func (s *Server) RootPublicKeyHex() string {
	pub := s.RootPublicKey()
	return hex.EncodeToString(pub[:])
}

// CAPEM is the PEM certificate of the CA that signed the simulator's TLS certificate
// (SANs web.whatsapp.com, *.whatsapp.net, 127.0.0.1).
func (s *Server) CAPEM() []byte {
	return s.caPEM
}

func (s *Server) nextID() string {
	return fmt.Sprintf("%s.%d", s.idPrefix, s.idCounter.Add(1))
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.mux}
	s.listener, s.httpServer = ln, srv
	go func() {
		if err := srv.Serve(&sniffListener{Listener: ln, tlsConfig: s.tlsConfig}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn().Err(err).Msg("HTTP server stopped")
		}
	}()
	return nil
}

// closeListener stops accepting and drops every live connection. State is kept.
func (s *Server) closeListener() {
	s.listenLock.Lock()
	if s.httpServer != nil {
		_ = s.httpServer.Close()
		s.httpServer, s.listener = nil, nil
	}
	s.listenLock.Unlock()
	s.stateLock.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.stateLock.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Close shuts the simulator down: simulated clients, listener, connections and (if it was
// temporary) the data directory.
func (s *Server) Close() error {
	s.stateLock.Lock()
	if s.closed {
		s.stateLock.Unlock()
		return nil
	}
	s.closed = true
	phones := make([]*Contact, 0, len(s.accounts))
	var stores []io.Closer
	for _, acct := range s.accounts {
		if acct.phone != nil {
			phones = append(phones, acct.phone)
		}
		if acct.container != nil {
			stores = append(stores, acct.container)
		}
	}
	s.stateLock.Unlock()
	for _, phone := range phones {
		phone.close()
	}
	s.closeListener()
	for _, store := range stores {
		_ = store.Close()
	}
	if s.ownDataDir {
		return os.RemoveAll(s.dataDir)
	}
	return nil
}
