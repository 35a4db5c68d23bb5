package wasim

import (
	waBinary "go.mau.fi/whatsmeow/binary"
)

// handleIQ answers a client IQ. Every IQ gets an answer: whatsmeow waits 75 s for a silent one.
func (c *conn) handleIQ(node *waBinary.Node) {
	typ, _ := node.Attrs["type"].(string)
	if typ == "result" || typ == "error" {
		if !c.deliverResponse(node) {
			c.log.Debug().Any("id", node.Attrs["id"]).Msg("Unexpected IQ response")
		}
		return
	}
	xmlns, _ := node.Attrs["xmlns"].(string)
	var child waBinary.Node
	if children := node.GetChildren(); len(children) > 0 {
		child = children[0]
	}
	c.srv.stateLock.Lock()
	loggedIn := c.dev != nil
	c.srv.stateLock.Unlock()
	if !loggedIn && xmlns != "w:p" && xmlns != "md" {
		c.send(iqError(node, 401, "not-authorized"))
		return
	}
	switch xmlns {
	case "w:p":
		c.send(iqResult(node))
	case "encrypt":
		c.handleEncryptIQ(node, &child)
	case "passive":
		c.send(iqResult(node))
		if child.Tag == "active" {
			c.activate()
		}
	case "usync":
		c.handleUsync(node, &child)
	case "privacy":
		c.handlePrivacyIQ(node, typ)
	case "md":
		c.handleMDIQ(node, &child)
	default:
		if !c.srv.handleExtraIQ(c, node, xmlns, &child) {
			c.send(iqError(node, 501, "feature-not-implemented"))
		}
	}
}

// handleExtraIQ is the hook for namespaces added later (w:g2 groups, w:m media, profile pictures,
// app state). It reports whether it answered the IQ.
func (s *Server) handleExtraIQ(c *conn, node *waBinary.Node, xmlns string, child *waBinary.Node) bool {
	if xmlns == "w:g2" {
		c.handleGroupIQ(node, child) // group_iq.go
		return true
	}
	if xmlns == "w:m" {
		c.handleMediaConnIQ(node, child) // media.go
		return true
	}
	if xmlns == "w:profile:picture" {
		c.handlePictureIQ(node, child) // picture.go
		return true
	}
	if xmlns == "status" && c.handleStatusIQ(node, child) { // status.go
		return true
	}
	if xmlns == "w:sync:app:state" {
		c.handleAppStateIQ(node, child) // appstate_iq.go
		return true
	}
	return false
}

func (c *conn) handlePrivacyIQ(node *waBinary.Node, typ string) {
	if typ == "set" && c.handlePrivacyTokensIQ(node) { // privacytoken.go
		return
	}
	if typ != "get" {
		c.send(iqResult(node))
		return
	}
	categories := []string{"readreceipts", "last", "online", "profile", "status", "groupadd", "calladd", "messages"}
	values := map[string]string{"groupadd": "all", "calladd": "all", "online": "all", "messages": "all"}
	nodes := make([]waBinary.Node, len(categories))
	for i, name := range categories {
		value := values[name]
		if value == "" {
			value = "all"
		}
		nodes[i] = waBinary.Node{Tag: "category", Attrs: waBinary.Attrs{"name": name, "value": value}}
	}
	c.send(iqResult(node, waBinary.Node{Tag: "privacy", Content: nodes}))
}

func (c *conn) handleMDIQ(node *waBinary.Node, child *waBinary.Node) {
	switch child.Tag {
	case "remove-companion-device":
		c.handleLogout(node)
	case "link_code_companion_reg":
		c.handleLinkCodeIQ(node, child)
	default:
		if !c.handlePasskeyIQ(node, child) { // passkey.go
			c.send(iqError(node, 501, "feature-not-implemented"))
		}
	}
}

// handleLogout removes the device that asked (client Logout). whatsmeow then disconnects and
// deletes its store; a later login with the old keys gets failure 401.
func (c *conn) handleLogout(node *waBinary.Node) {
	s := c.srv
	s.stateLock.Lock()
	dev := c.dev
	if dev == nil || dev.id == 0 {
		s.stateLock.Unlock()
		c.send(iqError(node, 403, "forbidden"))
		return
	}
	s.removeDeviceLocked(dev)
	c.active = false
	s.stateLock.Unlock()
	c.send(iqResult(node))
}
