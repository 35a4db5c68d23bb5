package wasim

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
)

// sniffListener serves plain HTTP and TLS on one port: a connection whose first byte is a TLS
// handshake record (0x16) is wrapped in a TLS server, anything else is passed through.
type sniffListener struct {
	net.Listener
	tlsConfig *tls.Config
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, tlsConfig: l.tlsConfig}, nil
}

// sniffConn decides on its first Read whether it speaks TLS. The HTTP server always reads before
// it writes, so writes never precede the decision.
type sniffConn struct {
	net.Conn
	tlsConfig *tls.Config
	once      sync.Once
	inner     net.Conn
	err       error
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (c *sniffConn) decide() {
	c.once.Do(func() {
		br := bufio.NewReader(c.Conn)
		first, err := br.Peek(1)
		if err != nil {
			c.err = err
			return
		}
		buffered := &bufferedConn{Conn: c.Conn, r: br}
		if first[0] == 0x16 {
			c.inner = tls.Server(buffered, c.tlsConfig)
		} else {
			c.inner = buffered
		}
	})
}

func (c *sniffConn) Read(p []byte) (int, error) {
	c.decide()
	if c.err != nil {
		return 0, c.err
	}
	return c.inner.Read(p)
}

func (c *sniffConn) Write(p []byte) (int, error) {
	c.decide()
	if c.err != nil {
		return 0, c.err
	}
	return c.inner.Write(p)
}

func (c *sniffConn) Close() error {
	if c.inner != nil {
		return c.inner.Close()
	}
	return c.Conn.Close()
}
