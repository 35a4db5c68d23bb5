package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// requestCounter is a reverse proxy in front of the homeserver that counts the requests passing
// through it by method and path pattern. With Options.CountHomeserverRequests the bridge talks to
// the homeserver through it, so that a benchmark can tell how many homeserver requests the bridge
// makes per bridged message.
type requestCounter struct {
	server *http.Server
	addr   string

	lock   sync.Mutex
	counts map[string]int
	// opened counts the TCP connections clients opened to the proxy.
	opened atomic.Int64
	// observe is ObserveHomeserverRequests' callback (nil when none is installed).
	observe atomic.Pointer[func(HomeserverRequest)]
}

// HomeserverRequest is one PUT request of the bridge to the homeserver, seen by the counting proxy
// (ObserveHomeserverRequests).
type HomeserverRequest struct {
	// Path is the request path, e.g. /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}.
	Path string
	// Body is the request body as the bridge sent it.
	Body []byte
	// At is when the proxy had read the request's headers, before its body.
	At time.Time
}

// newRequestCounter listens on a loopback port and forwards every request to target().
func newRequestCounter(target func() string) (*requestCounter, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen for the homeserver request counter: %w", err)
	}
	c := &requestCounter{addr: listener.Addr().String(), counts: make(map[string]int)}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u, _ := url.Parse(target())
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: pooledTransport,
		// Long-running requests (none expected from the bridge) are flushed as they come.
		FlushInterval: -1,
		// A request the bridge gave up on (e.g. at shutdown) is no news.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	}
	c.server = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				c.opened.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Method + " " + RequestPattern(r.URL.Path)
			c.lock.Lock()
			c.counts[key]++
			c.lock.Unlock()
			if observe := c.observe.Load(); observe != nil && r.Method == http.MethodPut {
				at := time.Now()
				body, err := io.ReadAll(r.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				(*observe)(HomeserverRequest{Path: r.URL.Path, Body: body, At: at})
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.ContentLength = int64(len(body))
			}
			proxy.ServeHTTP(w, r)
		}),
	}
	go func() { _ = c.server.Serve(listener) }()
	return c, nil
}

func (c *requestCounter) url() string { return "http://" + c.addr }

// snapshot returns a copy of the counts so far.
func (c *requestCounter) snapshot() RequestCounts {
	c.lock.Lock()
	defer c.lock.Unlock()
	out := make(RequestCounts, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

func (c *requestCounter) close() { _ = c.server.Close() }

// RequestCounts are homeserver requests by "METHOD pattern", the pattern being the path with its
// room, user, event and transaction IDs replaced by placeholders (RequestPattern).
type RequestCounts map[string]int

// Total is the number of requests of all kinds.
func (rc RequestCounts) Total() int {
	total := 0
	for _, v := range rc {
		total += v
	}
	return total
}

// Since returns the requests made after earlier was taken.
func (rc RequestCounts) Since(earlier RequestCounts) RequestCounts {
	out := make(RequestCounts)
	for k, v := range rc {
		if d := v - earlier[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// String lists the kinds, most frequent first.
func (rc RequestCounts) String() string {
	keys := make([]string, 0, len(rc))
	for k := range rc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if rc[keys[i]] != rc[keys[j]] {
			return rc[keys[i]] > rc[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d× %s", rc[k], k)
	}
	return strings.Join(parts, ", ")
}

// RequestPattern turns a client-server API path into its pattern: IDs (room, user, event, alias;
// raw or percent-encoded), the transaction ID of a send and the state key of a state event become
// placeholders, e.g. /_matrix/client/v3/rooms/{id}/send/m.room.message/{txn}.
func RequestPattern(path string) string {
	segments := strings.Split(path, "/")
	for i, s := range segments {
		if s == "" {
			continue
		}
		unescaped, err := url.PathUnescape(s)
		if err != nil {
			unescaped = s
		}
		switch {
		case strings.ContainsAny(unescaped[:1], "!@$#"):
			segments[i] = "{id}"
		case i >= 2 && (segments[i-2] == "send" || segments[i-2] == "redact"):
			segments[i] = "{txn}"
		case i >= 2 && segments[i-2] == "state":
			segments[i] = "{key}"
		case i >= 1 && (segments[i-1] == "download" || segments[i-1] == "thumbnail"):
			segments[i] = "{server}"
		case i >= 2 && (segments[i-2] == "download" || segments[i-2] == "thumbnail"):
			segments[i] = "{media}"
		}
	}
	return strings.Join(segments, "/")
}
