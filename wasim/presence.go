package wasim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
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
//
// Strict presence (the default; Options.LenientPresence turns it off) follows what WhatsApp does
// with clients that never announce themselves, which whatsmeow documents on SendPresence ("call
// this at least once after connecting ... otherwise other users will see '-' as the name") and on
// SetForceActiveDeliveryReceipts (clients not marked online behave as WhatsApp Web in the
// background):
//   - a message carries the sending device's push name (notify) only after that device announced
//     one with <presence name=...> on its current connection (available or unavailable alike);
//   - a chat state (typing) is forwarded only from a device that announced itself available, and
//     only to the recipient's devices that did.
//
// Simulated phones announce their account's push name (as unavailable) whenever they connect, as
// the WhatsApp app does, and Contact.SetAvailable makes them available.

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

// SetAvailable has the contact's phone announce itself available or unavailable, with its push
// name, as the WhatsApp app does when it comes to the foreground or leaves it. The phone announces
// the same again after every reconnect. It fails when the phone is not connected.
func (c *Contact) SetAvailable(ctx context.Context, available bool) error {
	c.acct.srv.stateLock.Lock()
	c.available = available
	c.acct.srv.stateLock.Unlock()
	return c.announce(ctx)
}

// announceOnConnect is the phone's event handler that announces its presence after each connect.
func (c *Contact) announceOnConnect(evt any) {
	if _, ok := evt.(*events.Connected); !ok {
		return
	}
	if err := c.announce(context.Background()); err != nil {
		c.acct.srv.log.Warn().Err(err).Str("phone", c.acct.pn.User).Msg("Simulated phone failed to announce its presence")
	}
}

// announce sends the phone's <presence type=... name=...>, the node whatsmeow SendPresence builds,
// with the account's current push name; and, like SendPresence, makes the phone's delivery
// receipts active while it is available. It is sent through whatsmeow's connection directly
// because SendPresence reads the device store's push name, which the account's name changes do
// not touch.
func (c *Contact) announce(ctx context.Context) error {
	s := c.acct.srv
	s.stateLock.Lock()
	available, name := c.available, c.acct.pushName
	s.stateLock.Unlock()
	state := types.PresenceUnavailable
	if available {
		state = types.PresenceAvailable
	}
	attrs := waBinary.Attrs{"type": string(state)}
	if name != "" {
		attrs["name"] = name
	}
	c.cli.SetForceActiveDeliveryReceipts(available)
	//lint:ignore SA1019 SendNode sends SendPresence's stanza with the account's current name (see above).
	if err := c.cli.DangerousInternals().SendNode(ctx, waBinary.Node{Tag: "presence", Attrs: attrs}); err != nil {
		return fmt.Errorf("failed to announce presence of %s: %w", c.acct.pn.User, err)
	}
	return nil
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
		if name, ok := node.Attrs["name"].(string); ok && name != "" {
			dev.announcedName = name
		}
		s.setDeviceAvailableLocked(dev, typ == string(types.PresenceAvailable))
	}
}

// senderNameLocked is the push name stamped (notify) on a message the device sends: the name it
// announced under strict presence, the account's push name under lenient presence. "" means none.
// Caller holds stateLock.
func (s *Server) senderNameLocked(dev *device) string {
	if s.lenientPresence {
		return dev.acct.pushName
	}
	return dev.announcedName
}

// chatStateAllowedLocked reports whether chat states may pass the device (as sender or recipient):
// under strict presence only while it announced itself available. Caller holds stateLock.
func (s *Server) chatStateAllowedLocked(dev *device) bool {
	return s.lenientPresence || dev.acct.presence.available[dev.id]
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
	dev.announcedName = ""
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

// DeviceAvailable reports whether the account's device announced itself available on its current
// connection.
func (a *Account) DeviceAvailable(deviceID uint16) bool {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	return a.presence.available[deviceID]
}

// AnnouncedName is the push name the account's device announced on its current connection ("" if
// it announced none): under strict presence its messages carry this name.
func (a *Account) AnnouncedName(deviceID uint16) string {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	if dev := a.devices[deviceID]; dev != nil {
		return dev.announcedName
	}
	return ""
}
