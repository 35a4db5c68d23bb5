package bridge

import (
	"net/http"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
)

// homeserverIdleConns is how many idle connections to the homeserver the bridge keeps open for its
// next requests: more than the requests it makes at once in normal work (one per portal sending,
// the bot's sync, media), so that a busy bridge reuses its connections.
const homeserverIdleConns = 64

// homeserverTransport returns the transport of every request to the homeserver: inner (Go's
// default transport when nil; the appservice's own for a unix socket) with room for
// homeserverIdleConns idle connections, wrapped in waits.Transport so each request adds its time
// to the homeserver wait of the message it is made for.
//
// Go's default transport keeps 2 idle connections per host (http.DefaultMaxIdleConnsPerHost): with
// more than two requests in flight at once (portals sending at the same time), each connection
// beyond two was closed after its answer and a later request opened a new one, a TCP set-up for
// the bridge and the homeserver.
func homeserverTransport(inner http.RoundTripper) http.RoundTripper {
	var t *http.Transport
	switch in := inner.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = in
	}
	if t != nil {
		t.MaxIdleConnsPerHost = homeserverIdleConns
		if t.MaxIdleConns != 0 && t.MaxIdleConns < homeserverIdleConns {
			t.MaxIdleConns = homeserverIdleConns
		}
		inner = t
	}
	return waits.Transport(inner)
}
