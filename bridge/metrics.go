package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

var _ metrics.Source = (*Bridge)(nil)

// MetricsSnapshot implements metrics.Source: the states and sockets of every login (each WhatsApp
// account of each user) from memory, the rest from the database.
func (br *Bridge) MetricsSnapshot(ctx context.Context) metrics.Snapshot {
	snap := metrics.Snapshot{Logins: make(map[whatsapp.StateEvent]int)}
	for _, user := range br.allAccounts() {
		state := user.wa.State().Event
		if state != whatsapp.StateUnconfigured {
			snap.Logins[state]++
		}
		if cli := user.wa.Client(); cli != nil && cli.IsConnected() {
			snap.ConnectedSockets++
		}
	}
	stats, err := br.DB.Stats(ctx)
	if err != nil {
		br.Log.Warn().Err(err).Msg("Failed to read database statistics for metrics")
		return snap
	}
	snap.DatabaseOK = true
	snap.Portals, snap.Ghosts = stats.Portals, stats.Ghosts
	snap.MatrixInboxPending, snap.MatrixInboxOldest = stats.InboxPending, stats.InboxOldest
	snap.WhatsAppInboxPending, snap.WhatsAppInboxOldest = stats.WAInboxPending, stats.WAInboxOldest
	return snap
}

// startMetrics serves GET /metrics on metrics.listen when metrics.enabled is set, and Go's
// profiler under /debug/pprof/ when metrics.pprof is. The listener is apart from the appservice
// port, so that it can be firewalled separately.
func (br *Bridge) startMetrics() error {
	if !br.Config.Metrics.Enabled && !br.Config.Metrics.Pprof {
		return nil
	}
	listener, err := net.Listen("tcp", br.Config.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s (metrics.listen): %w", br.Config.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	if br.Config.Metrics.Enabled {
		mux.Handle("GET /metrics", br.metrics.Handler())
	}
	if br.Config.Metrics.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	br.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	br.wg.Add(1)
	go func() {
		defer br.wg.Done()
		if err := br.metricsServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			br.Log.Error().Err(err).Msg("Metrics listener failed")
		}
	}()
	br.Log.Info().Str("address", listener.Addr().String()).Bool("metrics", br.Config.Metrics.Enabled).Bool("pprof", br.Config.Metrics.Pprof).
		Msg("Metrics listener started")
	return nil
}

// stopMetrics closes the metrics listener, if it runs.
func (br *Bridge) stopMetrics() {
	if br.metricsServer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := br.metricsServer.Shutdown(ctx); err != nil {
		br.Log.Warn().Err(err).Msg("Metrics listener did not shut down cleanly")
	}
}
