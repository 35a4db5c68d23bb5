package whatsapp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// Transport returns the HTTP clients whatsmeow should use for its websocket and for media, or nil
// clients when the config points at the real WhatsApp (whatsmeow's defaults are used then).
//
// With whatsapp.dial_address set, every connection goes to that address instead: with TLS verified
// against whatsapp.ca_file, or as plain HTTP when whatsapp.plain_http is set (the request URL is
// rewritten to http://dial_address, which also turns wss:// into ws://).
func Transport(cfg config.WhatsAppConfig) (websocket, media *http.Client, err error) {
	if cfg.DialAddress == "" {
		return nil, nil, nil
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
