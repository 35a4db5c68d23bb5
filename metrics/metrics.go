// Package metrics counts what the bridge does, for Prometheus.
//
// The counting happens at the bridge's seams, not at each call site: Matrix wraps the portals'
// portal.Matrix (every event a ghost sends to Matrix, i.e. WhatsApp -> Matrix), WAClient wraps the
// portals' portal.WAClient (every message sent to WhatsApp, i.e. Matrix -> WhatsApp),
// LoginStateChanged follows whatsapp.Login state changes (connect attempts, disconnects),
// Transactions times the appservice transaction handler, the inboxes report their outcomes and,
// with Handled, how long each message took and what that time went to (internal/waits).
// Gauges (logins by state, sockets, portals, ghosts, inbox depth) are read from a Source at scrape
// time, so they cannot drift from the truth.
//
// A Metrics has its own registry (no package globals): two bridges in one process, as in tests,
// do not share counts. Counting always happens; whether anyone can scrape depends on the bridge
// serving Handler (metrics.enabled).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
)

// namespace prefixes every metric name.
const namespace = "matrix_whatsapp"

// Direction is which way a message travels; it is the "direction" label.
type Direction string

// The two directions.
const (
	WhatsAppToMatrix Direction = "whatsapp_to_matrix"
	MatrixToWhatsApp Direction = "matrix_to_whatsapp"
)

// Failure reasons, the "reason" label of the failures counter.
const (
	// ReasonHomeserverUnreachable: a send to Matrix failed because the homeserver was down,
	// overloaded or rate limiting (it is retried).
	ReasonHomeserverUnreachable = "homeserver_unreachable"
	// ReasonHomeserverRefused: the homeserver refused a send for good (4xx).
	ReasonHomeserverRefused = "homeserver_refused"
	// ReasonWhatsAppSend: WhatsApp did not accept a message the bridge sent (it is retried).
	ReasonWhatsAppSend = "whatsapp_send"
	// ReasonRefused: a Matrix event cannot be bridged (unsupported or broken content); the sender
	// was told.
	ReasonRefused = "refused"
	// ReasonGaveUp: an event failed for good (refused by the other side, unreadable, or failed on
	// every attempt) and was given up with a notice in the room.
	ReasonGaveUp = "gave_up"
)

// Metrics holds the bridge's counters and the registry they are exported from. All methods are
// safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	bridged         *prometheus.CounterVec
	failures        *prometheus.CounterVec
	transactions    *prometheus.HistogramVec
	handling        *prometheus.HistogramVec
	connectAttempts prometheus.Counter
	disconnects     *prometheus.CounterVec
}

// New makes the bridge's metrics. source is read at every scrape for the gauges; log receives
// scrape-time errors.
func New(source Source, log zerolog.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		bridged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "messages_bridged_total",
			Help: "Messages bridged, by direction and kind (text, image, reaction, edit, redaction, ...). " +
				"WhatsApp to Matrix counts the Matrix events ghosts sent; Matrix to WhatsApp the messages WhatsApp accepted.",
		}, []string{"direction", "kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "failures_total",
			Help: "Failures while bridging, by direction and reason; a failure that is retried counts once per attempt.",
		}, []string{"direction", "reason"}),
		transactions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "appservice_transaction_duration_seconds",
			Help:    "Time from receiving an appservice transaction to answering it, by HTTP status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"status"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "message_handling_seconds",
			Help: "Time from a message's arrival at the bridge (the start of its inbox insert) until it was bridged, for messages bridged " +
				"from memory at their first attempt without a failed request, by direction and by what it went to: part=\"bridge\" the bridge's own work and queueing, " +
				"part=\"homeserver\" requests to the homeserver, part=\"whatsapp\" whatsmeow's sends, uploads and downloads.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"direction", "part"}),
		connectAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "whatsapp_connect_attempts_total",
			Help: "Attempts of the bridge's connect loop: stored sessions at start-up and every reconnect (a new pairing connects by itself).",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "whatsapp_disconnects_total",
			Help: "Connected WhatsApp logins that lost their connection, by the state they moved to.",
		}, []string{"state"}),
	}
	m.registry.MustRegister(m.bridged, m.failures, m.transactions, m.handling, m.connectAttempts, m.disconnects,
		newCollector(m, source, log),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format (GET /metrics on the metrics listener).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry returns the registry the metrics are in, for tests that read them directly.
func (m *Metrics) Registry() *prometheus.Registry {
	return m.registry
}

// Bridged counts one message bridged in direction dir.
func (m *Metrics) Bridged(dir Direction, kind string) {
	m.bridged.WithLabelValues(string(dir), kind).Inc()
}

// Failed counts one failure in direction dir, for one of the Reason constants.
func (m *Metrics) Failed(dir Direction, reason string) {
	m.failures.WithLabelValues(string(dir), reason).Inc()
}

// The part label values of message_handling_seconds.
const (
	PartBridge     = "bridge"
	PartHomeserver = "homeserver"
	PartWhatsApp   = "whatsapp"
)

// Handled records one message bridged in direction dir at its first attempt: total is the time from
// its arrival (the start of its inbox insert) until it was bridged, meter what of that it waited for
// the homeserver and for WhatsApp (waits.Track); the rest is the bridge's own part. Each message is
// observed once per part, so a part's _count is the number of messages. A message whose meter was
// disturbed (a request failed or was refused for now and may have been retried with a pause) is not
// recorded. Waits that add up to more than total (requests made in parallel) leave the bridge's
// part at 0.
func (m *Metrics) Handled(dir Direction, total time.Duration, meter *waits.Meter) {
	if meter.Disturbed() {
		return
	}
	hs, wa := meter.Waited(waits.Homeserver), meter.Waited(waits.WhatsApp)
	own := max(total-hs-wa, 0)
	m.handling.WithLabelValues(string(dir), PartBridge).Observe(own.Seconds())
	m.handling.WithLabelValues(string(dir), PartHomeserver).Observe(hs.Seconds())
	m.handling.WithLabelValues(string(dir), PartWhatsApp).Observe(wa.Seconds())
}
