package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// PostgresReconnectWait is how long a query waits for a PostgreSQL server that went away (restart,
// failover, network blip) to accept connections again before it fails. Without the wait, a
// query in flight during a short database restart fails; in whatsmeow's decryption path that
// failure makes whatsmeow acknowledge a message it could not decrypt, and the message is lost.
const PostgresReconnectWait = 2 * time.Minute

// patientConnector opens PostgreSQL connections, and once the server has been reached, waits
// (up to wait, and never past the caller's context) for it to come back when it refuses
// connections or is still starting up. Before the first success it fails at once, so a wrong
// address is reported at start-up without delay.
type patientConnector struct {
	inner   driver.Connector
	wait    time.Duration
	reached atomic.Bool
}

var _ driver.Connector = (*patientConnector)(nil)

// Connect implements driver.Connector.
func (c *patientConnector) Connect(ctx context.Context) (driver.Conn, error) {
	deadline := time.Now().Add(c.wait)
	pause := 100 * time.Millisecond
	for {
		conn, err := c.inner.Connect(ctx)
		if err == nil {
			c.reached.Store(true)
			return conn, nil
		}
		if !c.reached.Load() || !serverAway(err) || time.Now().Add(pause).After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// Driver implements driver.Connector.
func (c *patientConnector) Driver() driver.Driver { return c.inner.Driver() }

// serverAway reports whether err means the server is down or not ready yet rather than that the
// connection settings are wrong: connection refused or reset, or PostgreSQL's cannot_connect_now
// (starting up, shutting down, in recovery) and admin_shutdown.
func serverAway(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "57P03" || pqErr.Code == "57P01"
	}
	return false
}
