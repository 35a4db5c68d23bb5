package wasim

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waWa6"
)

// handshakeTimeout bounds the Noise handshake, as the client's own 20 s limit does.
const handshakeTimeout = 20 * time.Second

// conn is one client websocket after (or during) the Noise handshake.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    zerolog.Logger

	tr           *transport
	clientStatic [32]byte
	payload      *waWa6.ClientPayload

	// Guarded by srv.stateLock.
	dev    *device       // set once logged in
	reg    *registration // set while unpaired
	active bool          // the client sent <active/>; queued stanzas flow
	// silencedFor is the device this connection went silent for; see silent.go.
	silencedFor *device

	// silent drops everything read and written; see silent.go.
	silent atomic.Bool

	outLock   sync.Mutex
	out       []waBinary.Node
	outSignal chan struct{}

	iqLock    sync.Mutex
	iqWaiters map[string]chan *waBinary.Node
}

func (s *Server) handleWebsocket(w http.ResponseWriter, r *http.Request) {
	s.stateLock.Lock()
	refuse := s.outage || s.closed
	s.stateLock.Unlock()
	if refuse {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug().Err(err).Msg("Websocket accept failed")
		return
	}
	ws.SetReadLimit(1 << 24)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv: s, ws: ws, ctx: ctx, cancel: cancel,
		log:       s.log.With().Str("remote", r.RemoteAddr).Logger(),
		outSignal: make(chan struct{}, 1),
		iqWaiters: make(map[string]chan *waBinary.Node),
	}
	s.stateLock.Lock()
	s.conns[c] = struct{}{}
	s.stateLock.Unlock()
	defer s.dropConn(c)
	c.serve()
}

func (c *conn) serve() {
	defer c.close()
	fr := &frameReader{ws: c.ws}
	hsCtx, hsCancel := context.WithTimeout(c.ctx, handshakeTimeout)
	res, err := serverHandshake(hsCtx, c.ws, fr, c.srv.static, c.srv.certChain)
	hsCancel()
	if err != nil {
		c.log.Debug().Err(err).Msg("Handshake failed")
		return
	}
	c.tr, c.clientStatic, c.payload = res.transport, res.clientStatic, res.payload
	if c.payload.Username != nil {
		c.login()
	} else {
		c.startRegistration()
	}
	go c.writeLoop()
	for {
		frame, err := fr.next(c.ctx)
		if err != nil {
			return
		}
		plain, err := c.tr.open(frame)
		if err != nil {
			c.log.Warn().Err(err).Msg("Failed to decrypt frame")
			continue
		}
		if len(plain) == 0 || c.silent.Load() {
			continue
		}
		data, err := waBinary.Unpack(plain)
		if err != nil {
			c.log.Warn().Err(err).Msg("Failed to unpack frame")
			continue
		}
		node, err := waBinary.Unmarshal(data)
		if err != nil {
			c.log.Warn().Err(err).Msg("Failed to decode node")
			continue
		}
		if node.Tag == "message" {
			c.tapMessage(node, false, time.Now())
		}
		c.handleNode(node)
	}
}

func (c *conn) handleNode(node *waBinary.Node) {
	switch node.Tag {
	case "iq":
		c.handleIQ(node)
	case "message":
		c.handleMessage(node)
	case "receipt":
		c.handleReceipt(node)
	case "ack":
		c.handleAck(node)
	case "chatstate":
		c.handleChatState(node)
	case "presence":
		c.handlePresence(node)
	case "ib", "call":
		// unified_session and similar: nothing to answer.
	default:
		c.log.Debug().Str("tag", node.Tag).Msg("Ignoring unknown stanza")
	}
}

// send queues node for writing; order is preserved per connection.
func (c *conn) send(node waBinary.Node) {
	if c.silent.Load() {
		return
	}
	c.outLock.Lock()
	c.out = append(c.out, node)
	c.outLock.Unlock()
	select {
	case c.outSignal <- struct{}{}:
	default:
	}
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.outSignal:
		}
		c.outLock.Lock()
		batch := c.out
		c.out = nil
		c.outLock.Unlock()
		for _, node := range batch {
			data, err := waBinary.Marshal(node)
			if err != nil {
				c.log.Error().Err(err).Str("tag", node.Tag).Msg("Failed to encode node")
				continue
			}
			// A tapped message's time is taken before the write: once written, the client may
			// read and answer it before this goroutine runs again.
			var at time.Time
			if node.Tag == "message" {
				at = time.Now()
			}
			if err = writeFrame(c.ctx, c.ws, c.tr.seal(data)); err != nil {
				c.close()
				return
			}
			if node.Tag == "message" {
				c.tapMessage(&node, true, at)
			}
		}
	}
}

// request sends a server-initiated IQ and waits for the client's result or error.
func (c *conn) request(ctx context.Context, node waBinary.Node) (*waBinary.Node, error) {
	id := node.Attrs["id"].(string)
	ch := make(chan *waBinary.Node, 1)
	c.iqLock.Lock()
	c.iqWaiters[id] = ch
	c.iqLock.Unlock()
	defer func() {
		c.iqLock.Lock()
		delete(c.iqWaiters, id)
		c.iqLock.Unlock()
	}()
	c.send(node)
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrConnectionClosed
	}
}

func (c *conn) deliverResponse(node *waBinary.Node) bool {
	id, _ := node.Attrs["id"].(string)
	c.iqLock.Lock()
	ch, ok := c.iqWaiters[id]
	c.iqLock.Unlock()
	if ok {
		ch <- node
	}
	return ok
}

// close drops the websocket at once.
func (c *conn) close() {
	c.cancel()
	_ = c.ws.CloseNow()
}

// closeSoon closes the socket after the client has had time to process a final failure or
// stream error; closing at once makes whatsmeow treat it as an ordinary drop and reconnect.
func (c *conn) closeSoon() {
	time.AfterFunc(time.Second, c.close)
}

// dropConn forgets a finished connection.
func (s *Server) dropConn(c *conn) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	delete(s.conns, c)
	if c.dev != nil && c.dev.conn == c {
		c.dev.conn = nil
		s.noteOfflineLocked(c.dev)
		s.dropPresenceLocked(c.dev)
	}
	if c.reg != nil {
		for _, ref := range c.reg.refs {
			if s.pendingRefs[ref] == c {
				delete(s.pendingRefs, ref)
			}
		}
	}
	for phone, req := range s.pendingCodes {
		if req.conn == c {
			delete(s.pendingCodes, phone)
		}
	}
}
