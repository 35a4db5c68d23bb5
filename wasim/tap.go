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
// connection from now on, on the connection's own goroutine (tap must be quick and safe for
// concurrent use); nil stops it. Stanzas on connections that have not logged in are not tapped.
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
