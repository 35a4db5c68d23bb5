package wasim

import (
	"strconv"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// groupNodeLocked describes the group as w:g2 answers and create notifications carry it: the id
// is the bare user part, participants are LIDs with their phone number. Caller holds stateLock.
func (s *Server) groupNodeLocked(g *group) waBinary.Node {
	attrs := waBinary.Attrs{
		"id":              g.jid.User,
		"creation":        strconv.FormatInt(g.created.Unix(), 10),
		"subject":         g.subject,
		"s_t":             strconv.FormatInt(g.subjectAt.Unix(), 10),
		"addressing_mode": string(g.mode()),
		"size":            strconv.Itoa(len(g.members)),
		"p_v_id":          strconv.Itoa(g.version),
	}
	g.setMemberAttrs(attrs, "creator", g.creator)
	if g.subjectBy != nil {
		g.setMemberAttrs(attrs, "s_o", g.subjectBy)
	}
	content := make([]waBinary.Node, 0, len(g.members)+2)
	for _, m := range g.members {
		p := participantNode(g, m.acct)
		if m.role != roleMember {
			p.Attrs["type"] = m.role
		}
		content = append(content, p)
	}
	if g.topic != "" {
		dattrs := waBinary.Attrs{"id": g.topicID, "t": strconv.FormatInt(g.topicAt.Unix(), 10)}
		if g.topicBy != nil {
			g.setMemberAttrs(dattrs, "participant", g.topicBy)
		}
		content = append(content, waBinary.Node{Tag: "description", Attrs: dattrs, Content: []waBinary.Node{
			{Tag: "body", Content: []byte(g.topic)},
		}})
	}
	if g.locked {
		content = append(content, waBinary.Node{Tag: "locked"})
	}
	if g.ephemeral > 0 {
		content = append(content, waBinary.Node{Tag: "ephemeral", Attrs: waBinary.Attrs{"expiration": strconv.FormatUint(uint64(g.ephemeral), 10)}})
	}
	content = append(content, waBinary.Node{Tag: "member_add_mode", Content: []byte(types.GroupMemberAddModeAllMember)})
	return waBinary.Node{Tag: "group", Attrs: attrs, Content: content}
}

// participantNode names a member in the group's addressing mode: in LID groups its LID and its
// phone number (unless the member hides it), in phone-number groups its phone JID and its LID.
// Caller holds stateLock.
func participantNode(g *group, acct *Account) waBinary.Node {
	if g.pnAddressed {
		return waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": acct.pn, "lid": acct.lid}}
	}
	attrs := waBinary.Attrs{"jid": acct.lid}
	acct.setPNAttr(attrs, "phone_number", nil)
	return waBinary.Node{Tag: "participant", Attrs: attrs}
}

// participantListNode is an add/remove/promote/demote child listing accounts.
func participantListNode(g *group, tag, reason string, accounts []*Account) waBinary.Node {
	attrs := waBinary.Attrs{}
	if reason != "" {
		attrs["reason"] = reason
	}
	content := make([]waBinary.Node, len(accounts))
	for i, acct := range accounts {
		content[i] = participantNode(g, acct)
	}
	return waBinary.Node{Tag: tag, Attrs: attrs, Content: content}
}

// groupCreateNode is the single child of a notification that makes whatsmeow emit
// events.JoinedGroup with the full group info. Caller holds stateLock.
func (s *Server) groupCreateNode(g *group, reason, typ string) waBinary.Node {
	attrs := waBinary.Attrs{}
	if reason != "" {
		attrs["reason"] = reason
	}
	if typ != "" {
		attrs["type"] = typ
	}
	return waBinary.Node{Tag: "create", Attrs: attrs, Content: []waBinary.Node{s.groupNodeLocked(g)}}
}

// notifyGroupLocked queues one w:gp2 notification, made by actor, for every device of the given
// accounts except skip. whatsmeow updates its cached member list only from these notifications,
// so the acting device must get them too. Caller holds stateLock.
func (s *Server) notifyGroupLocked(g *group, actor *Account, to []*Account, skip *device, children ...waBinary.Node) {
	attrs := waBinary.Attrs{
		"from":            g.jid,
		"type":            "w:gp2",
		"id":              s.nextID(),
		"t":               nowString(),
		"addressing_mode": string(g.mode()),
	}
	if actor != nil {
		attrs["participant"] = g.memberJID(actor)
		if !g.pnAddressed {
			actor.setPNAttr(attrs, "participant_pn", nil)
		}
		if actor.pushName != "" {
			attrs["notify"] = actor.pushName
		}
	}
	seen := make(map[*Account]bool, len(to))
	for _, acct := range to {
		if seen[acct] {
			continue
		}
		seen[acct] = true
		for _, id := range acct.sortedDeviceIDs() {
			if dev := acct.devices[id]; dev != skip {
				s.enqueueLocked(dev, waBinary.Node{Tag: "notification", Attrs: attrs, Content: children})
			}
		}
	}
}

// groupDevicesLocked lists every device of every member as LID AD-JIDs. Caller holds stateLock.
func groupDevicesLocked(g *group) []types.JID {
	var out []types.JID
	for _, m := range g.members {
		out = append(out, m.acct.deviceJIDsLocked(m.acct.lid)...)
	}
	return out
}
