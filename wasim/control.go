package wasim

import (
	"context"
	"fmt"
	"time"
)

// DropConnections cuts every live connection of the account with the given phone number (its
// phone and companions), as a network failure would. The clients reconnect on their own.
func (s *Server) DropConnections(phone string) error {
	acct, err := s.Account(phone)
	if err != nil {
		return err
	}
	s.stateLock.Lock()
	var conns []*conn
	for _, dev := range acct.devices {
		if dev.conn != nil {
			conns = append(conns, dev.conn)
		}
	}
	s.stateLock.Unlock()
	for _, c := range conns {
		c.close()
	}
	return nil
}

// SetOutage starts or ends a service outage. While it lasts, every connection is dropped and new
// ones are refused with HTTP 503; messages already queued are delivered once clients are back.
func (s *Server) SetOutage(on bool) {
	s.stateLock.Lock()
	s.outage = on
	var conns []*conn
	if on {
		for c := range s.conns {
			conns = append(conns, c)
		}
	}
	s.stateLock.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.log.Info().Bool("outage", on).Msg("Outage state changed")
}

// Outage starts an outage that ends by itself after d.
func (s *Server) Outage(d time.Duration) {
	s.SetOutage(true)
	time.AfterFunc(d, func() { s.SetOutage(false) })
}

// Restart closes the listener and every connection, then listens again on the same address.
// Accounts, devices, prekeys and offline queues are kept.
func (s *Server) Restart(ctx context.Context) error {
	s.stateLock.Lock()
	closed := s.closed
	s.stateLock.Unlock()
	if closed {
		return ErrServerClosed
	}
	s.closeListener()
	addr := s.Addr()
	var err error
	for {
		s.listenLock.Lock()
		err = s.listen(addr)
		s.listenLock.Unlock()
		if err == nil {
			s.log.Info().Str("addr", addr).Msg("Simulator restarted")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to restart: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
