package whatsapp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// Transport returns the HTTP clients whatsmeow should use for its websocket (nil when the config
// points at the real WhatsApp: whatsmeow's default is used then) and for media. The media client
// reads at most limit.Bytes of one response (see MediaLimit), so that a media server or a message
// that lies about a file's size cannot make the bridge hold more than that in memory.
//
// With whatsapp.dial_address set, every connection goes to that address instead: with TLS verified
// against whatsapp.ca_file, or as plain HTTP when whatsapp.plain_http is set (the request URL is
// rewritten to http://dial_address, which also turns wss:// into ws://).
func Transport(cfg config.WhatsAppConfig, limit MediaLimit) (websocket, media *http.Client, err error) {
	defer func() {
		if media != nil {
			media.Transport = boundedTransport{base: media.Transport, limit: limit}
		}
	}()
	if cfg.DialAddress == "" {
		// whatsmeow's own media client: a clone of the default transport, no overall timeout.
		return nil, &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, nil
	}
	mediaAddr := cfg.MediaDialAddress
	if mediaAddr == "" {
		mediaAddr = cfg.DialAddress
	}
	websocket, err = redirectedClient(cfg, cfg.DialAddress, 0)
	if err != nil {
		return nil, nil, err
	}
	media, err = redirectedClient(cfg, mediaAddr, 2*time.Minute)
	return websocket, media, err
}

func redirectedClient(cfg config.WhatsAppConfig, addr string, timeout time.Duration) (*http.Client, error) {
	dialer := &net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}
	base := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		// Websockets need HTTP/1.1.
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: 20 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	if cfg.PlainHTTP {
		return &http.Client{Transport: plainRewriter{base: base, addr: addr}, Timeout: timeout}, nil
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("whatsapp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("whatsapp.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: base, Timeout: timeout}, nil
}

// MediaLimit bounds what the media client reads from one response: a response whose Content-Length
// is larger than Bytes fails before its body is read, a body that grows past Bytes fails there;
// both errors wrap Err (the caller's "too large" error). Bytes <= 0 means no bound.
type MediaLimit struct {
	Bytes int64
	Err   error
}

// boundedTransport applies a MediaLimit to every response of base.
type boundedTransport struct {
	base  http.RoundTripper
	limit MediaLimit
}

func (b boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(req)
	if err != nil || b.limit.Bytes <= 0 {
		return resp, err
	}
	if resp.ContentLength > b.limit.Bytes {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%w: the media server announced %d bytes, the limit is %d", b.limit.Err, resp.ContentLength, b.limit.Bytes)
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: b.limit.Bytes, limit: b.limit}
	return resp, nil
}

// boundedBody fails a read that would go past the limit.
type boundedBody struct {
	io.ReadCloser
	left  int64
	limit MediaLimit
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: the media server sent more than %d bytes", b.limit.Err, b.limit.Bytes)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// plainRewriter sends every request as plain HTTP to one address.
type plainRewriter struct {
	base *http.Transport
	addr string
}

func (p plainRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme = "http"
	req.URL.Host = p.addr
	return p.base.RoundTrip(req)
}

// ApplyTransport points a whatsmeow client at the configured servers.
func ApplyTransport(cli *whatsmeow.Client, websocket, media *http.Client) {
	if websocket != nil {
		cli.SetPreLoginHTTPClient(websocket)
		cli.SetWebsocketHTTPClient(websocket)
	}
	if media != nil {
		cli.SetMediaHTTPClient(media)
	}
}
