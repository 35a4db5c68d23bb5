package e2e

import "net/http"

// pooledTransport is the HTTP transport of what a benchmark sets beside the bridge: the probe's
// clients (ceiling A's ghosts) and the proxies in front of the homeserver (requestCounter). Like
// the bridge's own (bridge.homeserverTransport) it keeps up to 64 idle connections per host;
// Go's default transport keeps 2, so with more senders at once most requests would open and close a
// TCP connection of their own and the homeserver would pay for that in the ceiling's runs.
var pooledTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 64
	return t
}()
