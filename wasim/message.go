package wasim

import (
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// skippedMessageChildren are children of a sent message that concern the server only and are not
// forwarded to recipients.
var skippedMessageChildren = map[string]bool{
	"participants": true, "device-identity": true, "enc": true,
	"tctoken": true, "cstoken": true, "reporting": true,
}

// skippedMessageAttrs are attributes of a sent message that the server replaces or drops.
var skippedMessageAttrs = map[string]bool{
	"to": true, "phash": true, "device_fanout": true, "from": true, "t": true,
}

// handleMessage takes a client's message stanza: it is held if its chat is (see hold.go), else
// routed at once.
func (c *conn) handleMessage(node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	to, ok := node.Attrs["to"].(types.JID)
	if id == "" || !ok {
		c.send(waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "error": "400"}})
		return
	}
	if !c.srv.holdMessage(c, node, to) {
		c.routeMessage(node)
	}
}

// routeMessage routes a client's encrypted message. The server never decrypts: each recipient
// device gets exactly the enc node addressed to it. The sender gets its ack once every copy is
// queued. The caller has checked that the stanza has an id and a "to".
func (c *conn) routeMessage(node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	to, _ := node.Attrs["to"].(types.JID)
	s := c.srv
	if to.Server == types.GroupServer || to.Server == types.BroadcastServer {
		if !s.routeGroupMessage(c, node) {
			c.send(waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{
				"class": "message", "id": id, "from": to, "t": nowString(), "error": "404",
			}})
		}
		return
	}
	s.stateLock.Lock()
	sender := c.dev
	if sender == nil {
		s.stateLock.Unlock()
		c.send(waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "from": to, "t": nowString(), "error": "401"}})
		return
	}
	participants, hasParticipants := node.GetOptionalChildByTag("participants")
	isResend := !hasParticipants
	if code := s.refuseDirectLocked(sender.acct, to, node); code != "" && !isResend {
		s.stateLock.Unlock()
		c.send(refusalAck(id, to, code))
		return
	}
	if !isResend && !sender.seen.add(id) && !s.deliverRepeats {
		// The same message again (a client retrying after a lost ack): ack it, deliver nothing.
		s.stateLock.Unlock()
		c.send(messageAck(id, to))
		return
	}
	identity, hasIdentity := node.GetOptionalChildByTag("device-identity")
	t := nowString()
	if isResend {
		// Retry resends and peer messages carry their enc directly and go to one device.
		s.deliverCopyLocked(sender, node, to, to, node.GetChildrenByTag("enc"), identity, hasIdentity, t)
	} else {
		for _, target := range participants.GetChildren() {
			jid, ok := target.Attrs["jid"].(types.JID)
			if target.Tag != "to" || !ok {
				continue
			}
			s.deliverCopyLocked(sender, node, to, jid, target.GetChildrenByTag("enc"), identity, hasIdentity, t)
		}
	}
	noteConversationLocked(sender.acct, s.accountFor(to))
	s.stateLock.Unlock()
	c.send(messageAck(id, to))
}

func messageAck(id string, to types.JID) waBinary.Node {
	return waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "from": to, "t": nowString()}}
}

// routeGroupMessage is the hook for group and broadcast fan-out (sender keys). It reports whether
// it handled the message; until groups exist, group sends are refused with a 404 ack.
func (s *Server) routeGroupMessage(c *conn, node *waBinary.Node) bool {
	if to, _ := node.Attrs["to"].(types.JID); to == types.StatusBroadcastJID {
		s.fanOutStatus(c, node) // status.go
		return true
	}
	return s.fanOutGroupMessage(c, node) // group_message.go
}

// deliverCopyLocked queues one recipient device's copy of a message. chat is the message's "to"
// (the conversation), target the device the encs are for. Caller holds stateLock.
func (s *Server) deliverCopyLocked(sender *device, orig *waBinary.Node, chat, target types.JID, encs []waBinary.Node, identity waBinary.Node, hasIdentity bool, t string) {
	acct := s.accountFor(target)
	if acct == nil || len(encs) == 0 {
		return
	}
	dev := acct.devices[target.Device]
	if dev == nil || dev == sender {
		return
	}
	senderAcct := sender.acct
	attrs := waBinary.Attrs{}
	for k, v := range orig.Attrs {
		if !skippedMessageAttrs[k] {
			attrs[k] = v
		}
	}
	senderPN := senderAcct.pnSeenByLocked(acct)
	if senderPN.IsEmpty() {
		// A hidden number: the message comes from the sender's LID whatever the sender addressed.
		attrs["from"] = deviceJID(senderAcct.lid, sender.id)
	} else {
		attrs["from"] = deviceJID(senderAcct.inNamespace(target), sender.id)
	}
	attrs["t"] = t
	if name := s.senderNameLocked(sender); name != "" {
		attrs["notify"] = name
	}
	if acct == senderAcct {
		// A copy for the sender's own other device: the chat is the peer.
		chatUser := chat.ToNonAD()
		if rcpt, ok := orig.Attrs["recipient"].(types.JID); ok {
			chatUser = rcpt
		}
		attrs["recipient"] = chatUser
		if peer := s.accountFor(chatUser); peer != nil && chatUser.Server == types.HiddenUserServer {
			peer.setPNAttr(attrs, "peer_recipient_pn", acct)
		}
	} else if senderPN.IsEmpty() {
		// No sender_pn: the recipient knows the sender by LID only.
	} else if target.Server == types.HiddenUserServer {
		attrs["sender_pn"] = senderPN
	} else {
		attrs["sender_lid"] = senderAcct.lid
	}
	content := make([]waBinary.Node, 0, len(encs)+2)
	content = append(content, encs...)
	pkmsg := false
	for _, enc := range encs {
		if enc.Attrs["type"] == "pkmsg" {
			pkmsg = true
		}
	}
	if hasIdentity && pkmsg {
		content = append(content, identity)
	}
	for _, child := range orig.GetChildren() {
		if !skippedMessageChildren[child.Tag] {
			content = append(content, child)
		}
	}
	if vn, ok := senderAcct.verifiedNameNodeLocked(); ok && acct != senderAcct {
		content = append(content, vn)
	}
	s.enqueueLocked(dev, waBinary.Node{Tag: "message", Attrs: attrs, Content: content})
}
