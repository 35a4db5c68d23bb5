package wasim

import (
	"maps"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleReceipt settles what the receipt acknowledges in the sender's queue and forwards it.
// A receipt addressed to a device goes to that device; one addressed to a user (a DM read
// receipt, or device 0) goes to every device of that account except the reader.
func (c *conn) handleReceipt(node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	to, ok := node.Attrs["to"].(types.JID)
	if id == "" || !ok {
		return
	}
	s := c.srv
	if s.handleMediaRetryReceipt(c, node) { // mediaretry.go
		return
	}
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	reader := c.dev
	if reader == nil {
		return
	}
	ids := []string{id}
	list := node.GetChildByTag("list")
	for _, item := range list.GetChildren() {
		if itemID, ok := item.Attrs["id"].(string); ok {
			ids = append(ids, itemID)
		}
	}
	for _, msgID := range ids {
		s.settleLocked(reader, "message", msgID, "", "")
	}
	if to.Server == types.GroupServer || to.Server == types.BroadcastServer {
		s.routeGroupReceiptLocked(reader, node)
		return
	}
	acct := s.accountFor(to)
	if acct == nil {
		return
	}
	s.forwardReceiptLocked(reader, node, acct, to.Device, waBinary.Attrs{
		"from": deviceJID(reader.acct.inNamespace(to), reader.id),
	})
	if typ, _ := node.Attrs["type"].(string); typ == string(types.ReceiptTypeRead) && acct != reader.acct {
		s.fanOutReadSelfLocked(reader, node, to)
	}
}

// fanOutReadSelfLocked tells the reader's other devices that the reader read messages of the 1:1
// chat with to, as WhatsApp does: a receipt of type read-self from the reader's own device with
// the chat as recipient, which whatsmeow reports as an events.Receipt with IsFromMe set. Caller
// holds stateLock.
func (s *Server) fanOutReadSelfLocked(reader *device, node *waBinary.Node, to types.JID) {
	attrs := waBinary.Attrs{
		"id":        node.Attrs["id"],
		"type":      string(types.ReceiptTypeReadSelf),
		"from":      deviceJID(reader.acct.inNamespace(to), reader.id),
		"recipient": to.ToNonAD(),
	}
	if t, ok := node.Attrs["t"]; ok {
		attrs["t"] = t
	} else {
		attrs["t"] = nowString()
	}
	fwd := waBinary.Node{Tag: "receipt", Attrs: attrs, Content: node.Content}
	for _, id := range reader.acct.sortedDeviceIDs() {
		if dev := reader.acct.devices[id]; dev != nil && dev != reader {
			s.enqueueLocked(dev, fwd)
		}
	}
}

// forwardReceiptLocked relays a receipt that reader sent to acct: to the one device numbered
// device, or to all of acct's devices when device is 0, never back to reader. ids are the
// attributes that tell the receiving side who read (from, and participant in groups); "to" is
// dropped. Caller holds stateLock.
func (s *Server) forwardReceiptLocked(reader *device, node *waBinary.Node, acct *Account, device uint16, ids waBinary.Attrs) {
	attrs := waBinary.Attrs{}
	for k, v := range node.Attrs {
		if k != "to" {
			attrs[k] = v
		}
	}
	maps.Copy(attrs, ids)
	if _, ok := attrs["t"]; !ok {
		attrs["t"] = nowString()
	}
	fwd := waBinary.Node{Tag: "receipt", Attrs: attrs, Content: node.Content}
	if device != 0 {
		if dev := acct.devices[device]; dev != nil && dev != reader {
			s.enqueueLocked(dev, fwd)
		}
		return
	}
	for _, id := range acct.sortedDeviceIDs() {
		if dev := acct.devices[id]; dev != reader {
			s.enqueueLocked(dev, fwd)
		}
	}
}

// routeGroupReceiptLocked is the hook for group receipts (phase 2). Caller holds stateLock.
func (s *Server) routeGroupReceiptLocked(reader *device, node *waBinary.Node) {
	s.routeGroupReceipt(reader, node) // group_message.go
}

// handleAck settles a stanza the client acknowledged (a nack settles a message as well: the
// client will not get any further with it).
func (c *conn) handleAck(node *waBinary.Node) {
	class, _ := node.Attrs["class"].(string)
	id, _ := node.Attrs["id"].(string)
	typ, _ := node.Attrs["type"].(string)
	s := c.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if c.dev == nil {
		return
	}
	if class == "message" {
		s.settleLocked(c.dev, "message", id, "", "")
		return
	}
	s.settleLocked(c.dev, class, id, typ, stanzaKey(node, "to"))
}

// handleChatState relays typing notifications to the peer's online devices (under strict presence
// only from and to available ones, see presence.go). Chat states are not queued: a stale "typing"
// is worse than none.
func (c *conn) handleChatState(node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	children := node.GetChildren()
	if !ok || len(children) != 1 {
		return
	}
	s := c.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	sender := c.dev
	if sender == nil {
		return
	}
	if to.Server == types.GroupServer {
		s.routeGroupChatStateLocked(sender, node)
		return
	}
	acct := s.accountFor(to)
	if acct == nil || acct == sender.acct || !s.chatStateAllowedLocked(sender) {
		return
	}
	fwd := waBinary.Node{
		Tag:     "chatstate",
		Attrs:   waBinary.Attrs{"from": sender.acct.inNamespace(to)},
		Content: children,
	}
	for _, dev := range acct.devices {
		if dev.conn != nil && dev.conn.active && s.chatStateAllowedLocked(dev) {
			dev.conn.send(fwd)
		}
	}
}

// routeGroupChatStateLocked is the hook for typing in groups (phase 2). Caller holds stateLock.
func (s *Server) routeGroupChatStateLocked(sender *device, node *waBinary.Node) {
	s.routeGroupChatState(sender, node) // group_message.go
}
