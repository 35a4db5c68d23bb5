package wasim

import (
	"strconv"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// login authenticates a paired client. There is no secret in the login payload: the client is
// who it claims to be if its Noise static key is the one recorded when it paired.
func (c *conn) login() {
	s := c.srv
	user := strconv.FormatUint(c.payload.GetUsername(), 10)
	devID := uint16(c.payload.GetDevice())
	s.stateLock.Lock()
	var dev *device
	acct := s.accounts[user]
	if acct != nil {
		acct.countLoginLocked(devID)
		dev = acct.devices[devID]
	}
	if dev == nil || dev.noisePub != c.clientStatic {
		s.stateLock.Unlock()
		c.log.Debug().Str("user", user).Uint16("device", devID).Msg("Refusing login of unknown device")
		c.send(waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": "401", "location": "wasim"}})
		c.closeSoon()
		return
	}
	if failure := s.refuseLoginLocked(dev); failure != nil {
		s.stateLock.Unlock()
		c.log.Debug().Str("user", user).Uint16("device", devID).Any("reason", failure.Attrs["reason"]).Msg("Refusing login")
		c.send(*failure)
		c.closeSoon()
		return
	}
	if old := dev.conn; old != nil && old != c {
		// The same device connected again while its previous socket is still open: WhatsApp keeps
		// the newest and ends the old one with a "replaced" conflict (whatsmeow then emits
		// events.StreamReplaced and does not reconnect). A client that already closed the old
		// socket itself never reads this.
		old.dev = nil
		old.active = false
		old.send(waBinary.Node{Tag: "stream:error", Content: []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": "replaced"}}}})
		old.closeSoon()
		// What the old connection announced ends with it, even when the server sees the old
		// socket close only after this login (dropConn then no longer finds the device).
		s.dropPresenceLocked(dev)
	}
	if c.silenceIfSetLocked(dev) {
		// Half-open from the start: the device is bound to this socket, which never answers.
		dev.conn = c
		c.dev = dev
		s.stateLock.Unlock()
		c.log.Debug().Str("user", user).Uint16("device", devID).Msg("Silent login")
		return
	}
	dev.conn = c
	c.dev = dev
	lid := deviceJID(dev.acct.lid, dev.id)
	s.stateLock.Unlock()
	c.log = c.log.With().Str("device", deviceJID(dev.acct.pn, dev.id).String()).Logger()
	c.log.Debug().Msg("Device logged in")
	c.send(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t":        nowString(),
		"lid":      lid,
		"props":    "1",
		"location": "wasim",
	}})
}

// activate starts delivery to a logged-in connection (on the client's <active/>).
func (c *conn) activate() {
	s := c.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if c.dev == nil || c.active {
		return
	}
	c.active = true
	c.flushLocked()
}

func streamError(code, conflict string) waBinary.Node {
	node := waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": code}}
	if conflict != "" {
		node.Content = []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": conflict}}}
	}
	return node
}

func iqResult(req *waBinary.Node, content ...waBinary.Node) waBinary.Node {
	node := waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"type": "result", "id": req.Attrs["id"], "from": types.ServerJID,
	}}
	if len(content) > 0 {
		node.Content = content
	}
	return node
}

func iqError(req *waBinary.Node, code int, text string) waBinary.Node {
	return waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"type": "error", "id": req.Attrs["id"], "from": types.ServerJID},
		Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{
			"code": strconv.Itoa(code), "text": text,
		}}},
	}
}
