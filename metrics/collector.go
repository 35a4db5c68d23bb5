package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// scrapeTimeout bounds how long one scrape waits for the Source (its database queries).
const scrapeTimeout = 5 * time.Second

// Snapshot is the bridge's state at one moment, as the gauges show it.
type Snapshot struct {
	// Logins counts the loaded WhatsApp logins by state (users who never logged in are left out).
	Logins map[whatsapp.StateEvent]int
	// ConnectedSockets counts the logins whose WhatsApp websocket is open.
	ConnectedSockets int
	// DatabaseOK is false when the database could not be read; the fields below are then unset.
	DatabaseOK bool
	// Portals counts the portals that have a Matrix room; Ghosts the ghosts (puppets) known.
	Portals, Ghosts int
	// MatrixInboxPending counts the Matrix events stored and not handled yet; MatrixInboxOldest is
	// when the oldest of them arrived (zero when none).
	MatrixInboxPending int
	MatrixInboxOldest  time.Time
	// WhatsAppInboxPending and WhatsAppInboxOldest are the same for the WhatsApp events stored
	// (and acknowledged to WhatsApp) but not bridged yet.
	WhatsAppInboxPending int
	WhatsAppInboxOldest  time.Time
}

// Source gives the gauges their values at scrape time. The bridge implements it.
type Source interface {
	// MetricsSnapshot returns the current state. It must return within ctx's deadline; a database
	// that does not answer is reported by DatabaseOK, not by blocking.
	MetricsSnapshot(ctx context.Context) Snapshot
}

// loginStates are the states the logins gauge always has a series for, so dashboards show 0
// rather than nothing.
var loginStates = []whatsapp.StateEvent{
	whatsapp.StateConnecting, whatsapp.StateConnected, whatsapp.StateTransientDisconnect,
	whatsapp.StateBadCredentials, whatsapp.StateLoggedOut, whatsapp.StateDisconnected,
}

var (
	descLogins = prometheus.NewDesc(namespace+"_logins", "WhatsApp logins by connection state.", []string{"state"}, nil)
	descSocket = prometheus.NewDesc(namespace+"_whatsapp_connected_sockets", "WhatsApp websockets that are open.", nil, nil)
	descDBUp   = prometheus.NewDesc(namespace+"_database_up", "1 when the last scrape could read the database, else 0.", nil, nil)
	descPortal = prometheus.NewDesc(namespace+"_portals", "Portals (WhatsApp chats) that have a Matrix room.", nil, nil)
	descGhosts = prometheus.NewDesc(namespace+"_ghosts", "Ghost users (WhatsApp contacts) known to the bridge.", nil, nil)
	descDepth  = prometheus.NewDesc(namespace+"_inbox_pending", "Messages received and not bridged yet, by direction.", []string{"direction"}, nil)
	descOldest = prometheus.NewDesc(namespace+"_inbox_oldest_pending_seconds",
		"Age of the oldest message received and not bridged yet, by direction (0 when none is pending).", []string{"direction"}, nil)
)

// collector exports the Snapshot gauges.
type collector struct {
	m      *Metrics
	source Source
	log    zerolog.Logger
}

func newCollector(m *Metrics, source Source, log zerolog.Logger) *collector {
	return &collector{m: m, source: source, log: log}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogins, descSocket, descDBUp, descPortal, descGhosts, descDepth, descOldest} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	snap := c.source.MetricsSnapshot(ctx)
	now := time.Now()
	for _, state := range loginStates {
		ch <- prometheus.MustNewConstMetric(descLogins, prometheus.GaugeValue, float64(snap.Logins[state]), string(state))
	}
	ch <- prometheus.MustNewConstMetric(descSocket, prometheus.GaugeValue, float64(snap.ConnectedSockets))
	if !snap.DatabaseOK {
		c.log.Warn().Msg("Metrics scrape could not read the database")
		ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descPortal, prometheus.GaugeValue, float64(snap.Portals))
	ch <- prometheus.MustNewConstMetric(descGhosts, prometheus.GaugeValue, float64(snap.Ghosts))
	ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(snap.MatrixInboxPending), string(MatrixToWhatsApp))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age(now, snap.MatrixInboxOldest), string(MatrixToWhatsApp))
	ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(snap.WhatsAppInboxPending), string(WhatsAppToMatrix))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age(now, snap.WhatsAppInboxOldest), string(WhatsAppToMatrix))
}

// age is now - since in seconds, 0 for a zero since.
func age(now, since time.Time) float64 {
	if since.IsZero() {
		return 0
	}
	return max(now.Sub(since).Seconds(), 0)
}
