package wasim

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// MessageTap is one <message> stanza on a logged-in device's connection, as the server saw it: a
// benchmark times a client from outside with it (when a message reached the client, when the
// client's message reached WhatsApp).
type MessageTap struct {
	// Device is the connection's device (user@s.whatsapp.net with the device number).
	Device types.JID
	// Out is true for a stanza the server wrote to the device, false for one the device sent.
	Out bool
	// ID is the stanza's id attribute, the WhatsApp message ID.
	ID string
	// At is when the server started writing the stanza's frame to the socket (Out), or when it had
	// read and decoded it, before handling it.
	At time.Time
}

// TapMessages calls tap with every <message> stanza written to or read from a logged-in device's
// connection from now on (a message written again, after a reconnect or as a repeat, is tapped
// again); nil stops it, and a second call replaces the first tap. tap runs on the goroutine that
// wrote or read the stanza, so calls for one connection may overlap and need not come in the order
// of At; it must be quick and safe for concurrent use. A call that started before TapMessages(nil)
// may end after it. Stanzas on connections that have not logged in are not tapped. While a tap is
// installed each tapped stanza takes the server's state lock briefly, to name its device.
func (s *Server) TapMessages(tap func(MessageTap)) {
	if tap == nil {
		s.messageTap.Store(nil)
		return
	}
	s.messageTap.Store(&tap)
}

// tapMessage hands node, written (out) or read at at, to the installed tap, if any.
func (c *conn) tapMessage(node *waBinary.Node, out bool, at time.Time) {
	tap := c.srv.messageTap.Load()
	if tap == nil {
		return
	}
	c.srv.stateLock.Lock()
	dev := c.dev
	c.srv.stateLock.Unlock()
	if dev == nil {
		return
	}
	id, _ := node.Attrs["id"].(string)
	(*tap)(MessageTap{Device: deviceJID(dev.acct.pn, dev.id), Out: out, ID: id, At: at})
}
