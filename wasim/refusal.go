package wasim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// WhatsApp refuses a login by answering the client's handshake with <failure reason=N> instead of
// <success>, then closes the socket. whatsmeow (handleConnectFailure in connectionevents.go) turns
// the reasons into events:
//   - 401 logged out, 403 main device gone ("locked"), 406 banned: events.LoggedOut{OnConnect} and
//     the client deletes its session; the server has forgotten the device;
//   - 402 temporary ban, with code (events.TempBanReason) and expire (seconds left):
//     events.TemporaryBan; no automatic reconnect;
//   - 405 client outdated: events.ClientOutdated; no automatic reconnect;
//   - 500 and 503: no event, the client treats the close as an ordinary drop and reconnects;
//   - anything else: events.ConnectFailure; no automatic reconnect.
//
// Besides refusals, the server counts every login attempt per device, so that a test can tell a
// client that backs off from one that hammers the server.

// accountFaults are the refusals configured for one account. Guarded by srv.stateLock.
type accountFaults struct {
	refusals      map[uint16]*refusal
	attempts      map[uint16]int
	banCode       int
	bannedUntil   time.Time
	silentDevices map[uint16]bool
	offlineSince  map[uint16]time.Time // when each device last lost its connection; see offline.go
}

// refusal answers the next logins of one device with a failure reason.
type refusal struct {
	reason int
	left   int // logins still to refuse; 0 means until cleared
}

// isLoggedOutReason reports whether whatsmeow deletes its session on this failure reason
// (events.ConnectFailureReason.IsLoggedOut).
func isLoggedOutReason(reason int) bool {
	return reason == 401 || reason == 403 || reason == 406
}

// RefuseLogins makes the next count logins of the account's device deviceID fail with
// <failure reason=reason>; count 0 refuses every login until ClearRefusals. reason must be a
// 4xx or 5xx code other than 402 (use Ban). A logged-out reason (401, 403, 406) also removes the
// device when it is sent, as WhatsApp has forgotten a device it logs out. It returns
// ErrNoSuchDevice for an unknown device.
func (a *Account) RefuseLogins(deviceID uint16, reason, count int) error {
	if reason < 400 || reason > 599 || reason == 402 {
		return fmt.Errorf("refusal reason must be 400-599 other than 402, got %d", reason)
	} else if count < 0 {
		return fmt.Errorf("refusal count must not be negative, got %d", count)
	}
	s := a.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if a.devices[deviceID] == nil {
		return fmt.Errorf("%w: %d", ErrNoSuchDevice, deviceID)
	}
	if a.faults.refusals == nil {
		a.faults.refusals = make(map[uint16]*refusal)
	}
	a.faults.refusals[deviceID] = &refusal{reason: reason, left: count}
	s.log.Info().Str("account", a.pn.User).Uint16("device", deviceID).Int("reason", reason).Int("count", count).Msg("Refusing logins")
	return nil
}

// ClearRefusals ends the refusals of the account's device deviceID; its next login succeeds.
func (a *Account) ClearRefusals(deviceID uint16) {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	delete(a.faults.refusals, deviceID)
}

// Ban bans the account temporarily for d (which must be positive): connected companions are cut
// off, and every login of a companion until the ban ends gets <failure reason=402 code=code
// expire=seconds left>. code is the reason WhatsApp gives (events.TempBanReason, e.g. 101 "sent
// too many messages to people who don't have you in their address books"). The phone (device 0)
// stays connected, as it does on WhatsApp to show the ban.
func (a *Account) Ban(code int, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("ban duration must be positive, got %v", d)
	}
	s := a.srv
	s.stateLock.Lock()
	a.faults.banCode = code
	a.faults.bannedUntil = time.Now().Add(d)
	conns := a.companionConnsLocked()
	s.stateLock.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.log.Info().Str("account", a.pn.User).Int("code", code).Dur("duration", d).Msg("Account banned")
	return nil
}

// Unban ends a ban early.
func (a *Account) Unban() {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	a.faults.bannedUntil = time.Time{}
}

// LoginAttempts counts the logins (handshakes presenting the device's identity, refused or not)
// of the account's device deviceID since the account was created.
func (a *Account) LoginAttempts(deviceID uint16) int {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return a.faults.attempts[deviceID]
}

// SendStreamError ends the live connection of the account's device deviceID with
// <stream:error code=code>, then closes it. whatsmeow reconnects after 503 (and after any code it
// does not know, which it reports as events.StreamError). It returns ErrNoSuchDevice when the
// device is not connected.
func (a *Account) SendStreamError(deviceID uint16, code string) error {
	if _, err := strconv.Atoi(code); err != nil {
		return fmt.Errorf("stream error code must be a number, got %q", code)
	}
	s := a.srv
	s.stateLock.Lock()
	dev := a.devices[deviceID]
	var c *conn
	if dev != nil {
		c = dev.conn
	}
	s.stateLock.Unlock()
	if c == nil {
		return fmt.Errorf("%w: device %d is not connected", ErrNoSuchDevice, deviceID)
	}
	c.send(streamError(code, ""))
	c.closeSoon()
	return nil
}

// companionConnsLocked lists the live connections of the account's companions. Caller holds
// stateLock.
func (a *Account) companionConnsLocked() []*conn {
	var conns []*conn
	for id, dev := range a.devices {
		if id != 0 && dev.conn != nil {
			conns = append(conns, dev.conn)
		}
	}
	return conns
}

// refuseLoginLocked counts a login of dev and returns the failure to answer it with, or nil to
// let it in. A logged-out refusal removes the device. Caller holds stateLock.
func (s *Server) refuseLoginLocked(dev *device) *waBinary.Node {
	acct := dev.acct
	f := &acct.faults
	if dev.id != 0 && time.Now().Before(f.bannedUntil) {
		// Whole seconds, rounded up: a client that waits expire seconds finds the ban over.
		left := int(math.Ceil(time.Until(f.bannedUntil).Seconds()))
		return &waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{
			"reason": "402", "code": strconv.Itoa(f.banCode), "expire": strconv.Itoa(left), "location": "wasim",
		}}
	}
	if s.offlineTooLongLocked(dev) {
		s.log.Info().Str("account", acct.pn.User).Uint16("device", dev.id).Msg("Phone logged out a companion that was offline too long")
		s.removeDeviceLocked(dev)
		return &waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": "401", "location": "wasim"}}
	}
	r := f.refusals[dev.id]
	if r == nil {
		return nil
	}
	if r.left > 0 {
		if r.left--; r.left == 0 {
			delete(f.refusals, dev.id)
		}
	}
	if isLoggedOutReason(r.reason) {
		delete(f.refusals, dev.id)
		s.removeDeviceLocked(dev)
	}
	return &waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": strconv.Itoa(r.reason), "location": "wasim"}}
}

// countLoginLocked records a login attempt of the account's device. Caller holds stateLock.
func (a *Account) countLoginLocked(deviceID uint16) {
	if a.faults.attempts == nil {
		a.faults.attempts = make(map[uint16]int)
	}
	a.faults.attempts[deviceID]++
}
