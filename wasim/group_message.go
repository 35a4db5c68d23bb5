package wasim

import (
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Group messages are fanned out by the server's member list. Each member device gets one stanza:
// the SKDM enc the sender addressed to it (pkmsg or msg, if any) followed by the shared skmsg
// enc, in that order, since whatsmeow needs the sender key before it can read the skmsg. The
// sending device gets nothing; the sender's other devices get copies like everyone else
// (whatsmeow marks them IsFromMe). A retry resend (no participants wrapper, "participant" names
// the device that asked) goes to that one device only.

// groupMessageAttrsSkipped are attributes of a sent group message the server replaces or drops.
var groupMessageAttrsSkipped = map[string]bool{
	"to": true, "phash": true, "device_fanout": true, "from": true, "t": true,
	"participant": true, "addressing_mode": true,
}

// fanOutGroupMessage routes a message sent to a group. It reports false for a group it does not
// know (the caller answers 404); every other case is acked here.
func (s *Server) fanOutGroupMessage(c *conn, node *waBinary.Node) bool {
	id, _ := node.Attrs["id"].(string)
	to, _ := node.Attrs["to"].(types.JID)
	s.stateLock.Lock()
	sender := c.dev
	g := s.groupFor(to)
	switch {
	case sender == nil:
		s.stateLock.Unlock()
		c.send(groupAckError(id, to, "401"))
		return true
	case g == nil:
		s.stateLock.Unlock()
		return false
	case g.member(sender.acct) == nil:
		s.stateLock.Unlock()
		c.send(groupAckError(id, to, "403"))
		return true
	}
	t := nowString()
	participants, hasParticipants := node.GetOptionalChildByTag("participants")
	if !hasParticipants {
		if target, ok := node.Attrs["participant"].(types.JID); ok {
			s.deliverGroupRetryLocked(g, sender, node, target, t)
		}
	} else if sender.seen.add(id) || s.deliverRepeats {
		s.deliverGroupFanOutLocked(g, sender, node, &participants, t)
	}
	phash := deviceListHash(groupDevicesLocked(g))
	s.stateLock.Unlock()
	ack := messageAck(id, to)
	ack.Attrs["phash"] = phash
	c.send(ack)
	return true
}

func groupAckError(id string, to types.JID, code string) waBinary.Node {
	ack := messageAck(id, to)
	ack.Attrs["error"] = code
	return ack
}

// deliverGroupFanOutLocked queues a copy for every member device but the sender's. Caller holds
// stateLock.
func (s *Server) deliverGroupFanOutLocked(g *group, sender *device, node, participants *waBinary.Node, t string) {
	perDevice := make(map[*device][]waBinary.Node)
	for _, target := range participants.GetChildren() {
		jid, ok := target.Attrs["jid"].(types.JID)
		if target.Tag != "to" || !ok {
			continue
		}
		if acct := s.accountFor(jid); acct != nil {
			if dev := acct.devices[jid.Device]; dev != nil {
				perDevice[dev] = append(perDevice[dev], target.GetChildrenByTag("enc")...)
			}
		}
	}
	var shared []waBinary.Node
	for _, enc := range node.GetChildrenByTag("enc") {
		if enc.Attrs["type"] == "skmsg" {
			shared = append(shared, enc)
		}
	}
	for _, m := range g.members {
		for _, devID := range m.acct.sortedDeviceIDs() {
			dev := m.acct.devices[devID]
			if dev == sender {
				continue
			}
			encs := append(append([]waBinary.Node(nil), perDevice[dev]...), shared...)
			s.deliverGroupCopyLocked(g, sender, node, dev, encs, t)
		}
	}
}

// deliverGroupRetryLocked routes a pairwise resend to the one device that asked for it.
// Caller holds stateLock.
func (s *Server) deliverGroupRetryLocked(g *group, sender *device, node *waBinary.Node, target types.JID, t string) {
	acct := s.accountFor(target)
	if acct == nil || g.member(acct) == nil {
		return
	}
	if dev := acct.devices[target.Device]; dev != nil && dev != sender {
		s.deliverGroupCopyLocked(g, sender, node, dev, node.GetChildrenByTag("enc"), t)
	}
}

// deliverGroupCopyLocked queues one device's copy of a group message. Caller holds stateLock.
func (s *Server) deliverGroupCopyLocked(g *group, sender *device, orig *waBinary.Node, dev *device, encs []waBinary.Node, t string) {
	if len(encs) == 0 {
		return
	}
	attrs := waBinary.Attrs{}
	for k, v := range orig.Attrs {
		if !groupMessageAttrsSkipped[k] {
			attrs[k] = v
		}
	}
	senderAcct := sender.acct
	attrs["from"] = g.jid
	attrs["participant"] = deviceJID(g.memberJID(senderAcct), sender.id)
	if g.pnAddressed {
		attrs["participant_lid"] = senderAcct.lid
	} else {
		senderAcct.setPNAttr(attrs, "participant_pn", dev.acct)
	}
	attrs["addressing_mode"] = string(g.mode())
	attrs["t"] = t
	if name := s.senderNameLocked(sender); name != "" {
		attrs["notify"] = name
	}
	content := make([]waBinary.Node, 0, len(encs)+2)
	content = append(content, encs...)
	pkmsg := false
	for _, enc := range encs {
		pkmsg = pkmsg || enc.Attrs["type"] == "pkmsg"
	}
	if identity, ok := orig.GetOptionalChildByTag("device-identity"); ok && pkmsg {
		content = append(content, identity)
	}
	for _, child := range orig.GetChildren() {
		if !skippedMessageChildren[child.Tag] {
			content = append(content, child)
		}
	}
	if vn, ok := senderAcct.verifiedNameNodeLocked(); ok && dev.acct != senderAcct {
		content = append(content, vn)
	}
	s.enqueueLocked(dev, waBinary.Node{Tag: "message", Attrs: attrs, Content: content})
}

// routeGroupReceipt forwards a member's receipt (delivered, read, retry...) to the message's
// sender: to the named device, or to every device of that account when "participant" is a bare
// user (read receipts name the sender's user). Caller holds stateLock.
func (s *Server) routeGroupReceipt(reader *device, node *waBinary.Node) {
	to, _ := node.Attrs["to"].(types.JID)
	participant, ok := node.Attrs["participant"].(types.JID)
	g := s.groupFor(to)
	if to == types.StatusBroadcastJID {
		g = &group{jid: to} // a viewer's receipt for a status goes to the poster (status.go)
	}
	if !ok || g == nil {
		return
	}
	acct := s.accountFor(participant)
	if acct == nil {
		return
	}
	s.forwardReceiptLocked(reader, node, acct, participant.Device, waBinary.Attrs{
		"from":        g.jid,
		"participant": deviceJID(reader.acct.inNamespace(participant), reader.id),
	})
}

// routeGroupChatState relays typing in a group to the other members' online devices (under
// strict presence only from and to available ones); like DM chat states it is not queued. Caller holds stateLock.
func (s *Server) routeGroupChatState(sender *device, node *waBinary.Node) {
	to, _ := node.Attrs["to"].(types.JID)
	g := s.groupFor(to)
	if g == nil || g.member(sender.acct) == nil || !s.chatStateAllowedLocked(sender) {
		return
	}
	fwd := waBinary.Node{
		Tag:     "chatstate",
		Attrs:   waBinary.Attrs{"from": g.jid, "participant": g.memberJID(sender.acct)},
		Content: node.GetChildren(),
	}
	for _, m := range g.members {
		if m.acct == sender.acct {
			continue
		}
		for _, dev := range m.acct.devices {
			if dev.conn != nil && dev.conn.active && s.chatStateAllowedLocked(dev) {
				dev.conn.send(fwd)
			}
		}
	}
}
