package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

var _ metrics.Source = (*Bridge)(nil)

// MetricsSnapshot implements metrics.Source: the logins' states and sockets from memory, the rest
// from the database.
func (br *Bridge) MetricsSnapshot(ctx context.Context) metrics.Snapshot {
	snap := metrics.Snapshot{Logins: make(map[whatsapp.StateEvent]int)}
	for _, user := range br.loadedUsers() {
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
	return snap
}

// loadedUsers returns the users the bridge has in memory.
func (br *Bridge) loadedUsers() []*User {
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	users := make([]*User, 0, len(br.users))
	for _, user := range br.users {
		users = append(users, user)
	}
	return users
}

// startMetrics serves GET /metrics on metrics.listen when metrics.enabled is set. The listener is
// apart from the appservice port, so that it can be firewalled separately.
func (br *Bridge) startMetrics() error {
	if !br.Config.Metrics.Enabled {
		return nil
	}
	listener, err := net.Listen("tcp", br.Config.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s (metrics.listen): %w", br.Config.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", br.metrics.Handler())
	br.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	br.wg.Add(1)
	go func() {
		defer br.wg.Done()
		if err := br.metricsServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			br.Log.Error().Err(err).Msg("Metrics listener failed")
		}
	}()
	br.Log.Info().Str("address", listener.Addr().String()).Msg("Metrics listener started")
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
