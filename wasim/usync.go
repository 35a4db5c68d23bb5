package wasim

import (
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleUsync answers user queries: device lists, LIDs, status, picture, business and
// "is on WhatsApp" contact lookups. Each user node echoes the JID it was asked about.
func (c *conn) handleUsync(node *waBinary.Node, usync *waBinary.Node) {
	queryNode := usync.GetChildByTag("query")
	listNode := usync.GetChildByTag("list")
	query := queryNode.GetChildren()
	users := listNode.GetChildren()
	s := c.srv
	s.stateLock.Lock()
	var requester *Account
	if c.dev != nil {
		requester = c.dev.acct
	}
	out := make([]waBinary.Node, 0, len(users))
	for _, user := range users {
		if user.Tag != "user" {
			continue
		}
		if jid, ok := user.Attrs["jid"].(types.JID); ok {
			acct := s.accountFor(jid)
			out = append(out, s.usyncUserLocked(requester, acct, jid, query, ""))
			continue
		}
		contact, ok := user.GetOptionalChildByTag("contact")
		if !ok {
			continue
		}
		asked := string(bytesOf(contact))
		phone := onlyDigits(strings.SplitN(asked, "@", 2)[0])
		acct := s.accounts[phone]
		out = append(out, s.usyncUserLocked(requester, acct, types.NewJID(phone, types.DefaultUserServer), query, asked))
	}
	s.stateLock.Unlock()
	attrs := waBinary.Attrs{}
	for k, v := range usync.Attrs {
		attrs[k] = v
	}
	c.send(iqResult(node, waBinary.Node{Tag: "usync", Attrs: attrs, Content: []waBinary.Node{
		{Tag: "result"},
		{Tag: "list", Content: out},
	}}))
}

// usyncUserLocked builds one <user> of a usync answer. asked is the raw contact query for phone
// lookups (empty for JID queries). Caller holds stateLock.
func (s *Server) usyncUserLocked(requester, acct *Account, jid types.JID, query []waBinary.Node, asked string) waBinary.Node {
	attrs := waBinary.Attrs{"jid": jid}
	var children []waBinary.Node
	for _, q := range query {
		switch q.Tag {
		case "devices":
			if acct == nil {
				children = append(children, waBinary.Node{Tag: "devices", Content: []waBinary.Node{{Tag: "device-list"}}})
				continue
			}
			if requester != nil && requester != acct {
				acct.watchers[requester] = struct{}{}
			}
			list := make([]waBinary.Node, 0, len(acct.devices))
			for _, id := range acct.sortedDeviceIDs() {
				dattrs := waBinary.Attrs{"id": itoa(int(id))}
				if id != 0 {
					dattrs["key-index"] = itoa(int(id))
				}
				list = append(list, waBinary.Node{Tag: "device", Attrs: dattrs})
			}
			children = append(children, waBinary.Node{Tag: "devices", Content: []waBinary.Node{{Tag: "device-list", Content: list}}})
		case "lid":
			if acct != nil {
				children = append(children, waBinary.Node{Tag: "lid", Attrs: waBinary.Attrs{"val": acct.lid}})
			} else {
				children = append(children, waBinary.Node{Tag: "lid"})
			}
		case "status":
			children = append(children, waBinary.Node{Tag: "status", Content: []byte("Hey there! I am using WhatsApp.")})
		case "contact":
			if acct == nil {
				children = append(children, waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": "out"}, Content: []byte(asked)})
				continue
			}
			if mode, _ := q.Attrs["addressing_mode"].(string); mode == "lid" {
				attrs["jid"] = acct.lid
			} else {
				attrs["jid"] = acct.pn
			}
			attrs["pn_jid"] = acct.pn
			children = append(children, waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": "in"}, Content: []byte(asked)})
		case "business":
			children = append(children, businessNodeLocked(acct))
		case "disappearing_mode":
			children = append(children, waBinary.Node{Tag: "disappearing_mode", Attrs: waBinary.Attrs{"duration": "0", "t": "0"}})
		default:
			children = append(children, waBinary.Node{Tag: q.Tag})
		}
	}
	return waBinary.Node{Tag: "user", Attrs: attrs, Content: children}
}
