package wasim

import (
	"context"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Presence. A device announces <presence type="available|unavailable" name=...> (whatsmeow
// SendPresence); an account is available while at least one of its connected devices announced
// available, and records when it last stopped being available. A device subscribes to another
// account's presence with <presence type="subscribe" to=JID> (whatsmeow SubscribePresence): the
// server answers at once with the current presence and again on every change, as
// <presence from=JID type="available|unavailable" last=unix-seconds> (whatsmeow handlePresence
// emits events.Presence). Subscriptions last as long as the subscribing connection, as on real
// WhatsApp, so a client subscribes again after each reconnect. Presence is never queued for
// offline devices.

// presenceState is an account's presence. Guarded by srv.stateLock.
type presenceState struct {
	available map[uint16]bool // devices that announced available on their current connection
	lastSeen  time.Time       // when the account last stopped being available (zero: never)
	// subscribers are the devices subscribed to this account, with the JID (PN or LID) they used.
	subscribers map[*device]types.JID
}

// Available reports whether one of the account's connected devices announced itself available.
func (a *Account) Available() bool {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return len(a.presence.available) > 0
}

// SetAvailable has the contact's phone announce itself available or unavailable (whatsmeow
// SendPresence), as the WhatsApp app does when it comes to the foreground or leaves it.
func (c *Contact) SetAvailable(ctx context.Context, available bool) error {
	state := types.PresenceUnavailable
	if available {
		state = types.PresenceAvailable
	}
	return c.cli.SendPresence(ctx, state)
}

// handlePresence takes a client's availability announcement or presence subscription.
func (c *conn) handlePresence(node *waBinary.Node) {
	s := c.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	dev := c.dev
	if dev == nil {
		return
	}
	typ, _ := node.Attrs["type"].(string)
	switch typ {
	case "subscribe":
		to, ok := node.Attrs["to"].(types.JID)
		target := s.accountFor(to)
		if !ok || target == nil {
			return
		}
		if target.presence.subscribers == nil {
			target.presence.subscribers = make(map[*device]types.JID)
		}
		as := to.ToNonAD()
		target.presence.subscribers[dev] = as
		c.send(target.presenceNodeLocked(as))
	case string(types.PresenceAvailable), string(types.PresenceUnavailable):
		s.setDeviceAvailableLocked(dev, typ == string(types.PresenceAvailable))
	}
}

// setDeviceAvailableLocked records a device's availability and tells the account's subscribers when
// the account's presence changed. Caller holds stateLock.
func (s *Server) setDeviceAvailableLocked(dev *device, available bool) {
	acct := dev.acct
	p := &acct.presence
	was := len(p.available) > 0
	if available {
		if p.available == nil {
			p.available = make(map[uint16]bool)
		}
		p.available[dev.id] = true
	} else {
		delete(p.available, dev.id)
	}
	now := len(p.available) > 0
	if was == now {
		return
	}
	if !now {
		p.lastSeen = time.Now()
	}
	for sub, as := range p.subscribers {
		if sub.conn != nil && sub.conn.active {
			sub.conn.send(acct.presenceNodeLocked(as))
		}
	}
}

// presenceNodeLocked is the account's presence as a subscriber that used the JID as sees it.
// Caller holds stateLock.
func (a *Account) presenceNodeLocked(as types.JID) waBinary.Node {
	attrs := waBinary.Attrs{"from": as}
	if len(a.presence.available) > 0 {
		attrs["type"] = string(types.PresenceAvailable)
	} else {
		attrs["type"] = string(types.PresenceUnavailable)
		if !a.presence.lastSeen.IsZero() {
			attrs["last"] = strconv.FormatInt(a.presence.lastSeen.Unix(), 10)
		}
	}
	return waBinary.Node{Tag: "presence", Attrs: attrs}
}

// dropPresenceLocked ends what a device's connection held: its availability and its subscriptions.
// Caller holds stateLock.
func (s *Server) dropPresenceLocked(dev *device) {
	s.setDeviceAvailableLocked(dev, false)
	for _, acct := range s.accounts {
		delete(acct.presence.subscribers, dev)
	}
}

// PresenceSubscribers is how many connected devices are subscribed to the account's presence.
func (a *Account) PresenceSubscribers() int {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	n := 0
	for dev := range a.presence.subscribers {
		if dev.conn != nil {
			n++
		}
	}
	return n
}
