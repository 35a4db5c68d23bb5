package wasim

import "fmt"

// A silent connection is a half-open one, as NAT timeouts and mobile networks produce: the socket
// stays open, but nothing comes back. The server reads and drops whatever the client writes (its
// keepalive pings, w:p IQs, included) and writes nothing, so the client notices only through its
// keepalive (whatsmeow's keepAliveLoop emits events.KeepAliveTimeout every 20-30 s after a ping went
// unanswered for 10 s). New logins of a silenced device get the same treatment: the Noise handshake
// completes, then no <success> ever comes.

// Silence makes the account's device deviceID silent (on) or ends the silence. Ending it closes the
// device's silent connections, which are dead to their client anyway; the client then reconnects
// normally. It returns ErrNoSuchDevice for an unknown device.
func (a *Account) Silence(deviceID uint16, on bool) error {
	s := a.srv
	s.stateLock.Lock()
	dev := a.devices[deviceID]
	if dev == nil {
		s.stateLock.Unlock()
		return fmt.Errorf("%w: %d", ErrNoSuchDevice, deviceID)
	}
	if a.faults.silentDevices == nil {
		a.faults.silentDevices = make(map[uint16]bool)
	}
	a.faults.silentDevices[deviceID] = on
	var closing []*conn
	for c := range s.conns {
		if on && c == dev.conn {
			c.silent.Store(true)
		} else if !on && c.silencedFor == dev {
			closing = append(closing, c)
		}
	}
	if on && dev.conn != nil {
		dev.conn.silencedFor = dev
	}
	s.stateLock.Unlock()
	for _, c := range closing {
		c.close()
	}
	s.log.Info().Str("account", a.pn.User).Uint16("device", deviceID).Bool("silent", on).Msg("Device silence changed")
	return nil
}

// silenceIfSetLocked makes c silent when its device is silenced and reports whether it did.
// Caller holds stateLock.
func (c *conn) silenceIfSetLocked(dev *device) bool {
	if !dev.acct.faults.silentDevices[dev.id] {
		return false
	}
	c.silent.Store(true)
	c.silencedFor = dev
	return true
}
