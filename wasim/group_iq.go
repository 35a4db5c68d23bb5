package wasim

import (
	"errors"
	"strconv"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleGroupIQ answers w:g2 IQs: create, participating and leave go to g.us; everything else to
// the group itself, and only members get answers (non-members 403, whatsmeow's ErrNotInGroup).
func (c *conn) handleGroupIQ(node *waBinary.Node, child *waBinary.Node) {
	s := c.srv
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	dev := c.dev
	if dev == nil {
		c.send(iqError(node, 401, "not-authorized"))
		return
	}
	if isGroupQuery(child) && !s.allowGroupQueryLocked(dev.acct) { // ratelimit.go
		c.send(iqError(node, 429, "rate-overlimit"))
		return
	}
	to, _ := node.Attrs["to"].(types.JID)
	if to.Server == types.GroupServer && to.User == "" {
		c.handleGroupServerIQLocked(node, child, dev)
		return
	}
	g, err := s.lookupGroupActor(to, dev.acct, false)
	switch {
	case errors.Is(err, ErrNoSuchGroup):
		c.send(iqError(node, 404, "item-not-found"))
		return
	case err != nil:
		c.send(iqError(node, 403, "forbidden"))
		return
	}
	actor := dev.acct
	switch child.Tag {
	case "query":
		c.send(iqResult(node, s.groupNodeLocked(g)))
	case "subject", "description":
		if g.locked && !g.isAdmin(actor) {
			c.send(iqError(node, 401, "not-authorized"))
			return
		}
		c.handleInfoChangeLocked(node, child, g, actor)
	case "locked", "unlocked":
		if !g.isAdmin(actor) {
			c.send(iqError(node, 401, "not-authorized"))
			return
		}
		g.locked = child.Tag == "locked"
		s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, waBinary.Node{Tag: child.Tag})
		c.send(iqResult(node))
	case "ephemeral", "not_ephemeral":
		c.handleEphemeralLocked(node, child, g, actor)
	case "invite":
		c.handleInviteLinkLocked(node, g, actor) // group_invite.go
	case string(GroupAdd), string(GroupRemove), string(GroupPromote), string(GroupDemote):
		if !g.isAdmin(actor) {
			c.send(iqError(node, 401, "not-authorized"))
			return
		}
		c.handleParticipantsLocked(node, child, g, actor)
	default:
		c.send(iqError(node, 501, "feature-not-implemented"))
	}
}

// handleInfoChangeLocked renames the group (<subject>) or sets its description. Caller holds
// stateLock and has checked that actor may.
func (c *conn) handleInfoChangeLocked(node, child *waBinary.Node, g *group, actor *Account) {
	s := c.srv
	switch child.Tag {
	case "subject":
		name := string(bytesOf(*child))
		if !validGroupName(name) {
			c.send(iqError(node, 406, "not-acceptable"))
			return
		}
		s.setSubjectLocked(g, actor, name)
		c.send(iqResult(node))
	default:
		c.handleDescriptionLocked(node, child, g, actor)
	}
}

// handleGroupServerIQLocked answers IQs addressed to g.us. Caller holds stateLock.
func (c *conn) handleGroupServerIQLocked(node *waBinary.Node, child *waBinary.Node, dev *device) {
	s := c.srv
	switch child.Tag {
	case "create":
		name, _ := child.Attrs["subject"].(string)
		if !validGroupName(name) {
			c.send(iqError(node, 406, "not-acceptable"))
			return
		}
		var members []*Account
		var unknown []types.JID
		for _, p := range child.GetChildrenByTag("participant") {
			if jid, ok := p.Attrs["jid"].(types.JID); ok {
				if acct := s.accountFor(jid.ToNonAD()); acct != nil {
					members = append(members, acct)
				} else {
					unknown = append(unknown, jid.ToNonAD())
				}
			}
		}
		g := s.createGroupLocked(dev.acct, name, members, dev, false)
		// As WhatsApp does, the answer lists who could not be added, each with an error code
		// (whatsmeow's GroupParticipant.Error); the group is created without them.
		reply := s.groupNodeLocked(g)
		content, _ := reply.Content.([]waBinary.Node)
		for _, jid := range unknown {
			content = append(content, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": strconv.Itoa(codeNotMember)}})
		}
		reply.Content = content
		c.send(iqResult(node, reply))
	case "participating":
		groups := s.groupsOfLocked(dev.acct)
		nodes := make([]waBinary.Node, len(groups))
		for i, g := range groups {
			nodes[i] = s.groupNodeLocked(g)
		}
		c.send(iqResult(node, waBinary.Node{Tag: "groups", Content: nodes}))
	case "invite":
		c.handleInviteCodeLocked(node, child, dev) // group_invite.go
	case "leave":
		for _, gn := range child.GetChildrenByTag("group") {
			jid, _ := gn.Attrs["id"].(types.JID)
			if g := s.groupFor(jid); g != nil && g.member(dev.acct) != nil {
				s.leaveGroupLocked(g, dev.acct)
			}
		}
		c.send(iqResult(node))
	default:
		c.send(iqError(node, 501, "feature-not-implemented"))
	}
}

// handleDescriptionLocked sets or deletes the topic. A "prev" that is not the current topic id
// is a conflict, as with WhatsApp. Caller holds stateLock.
func (c *conn) handleDescriptionLocked(node, child *waBinary.Node, g *group, actor *Account) {
	id, _ := child.Attrs["id"].(string)
	if id == "" {
		id = c.srv.nextID()
	}
	if prev, _ := child.Attrs["prev"].(string); prev != "" && prev != g.topicID {
		c.send(iqError(node, 409, "conflict"))
		return
	}
	topic := ""
	if del, _ := child.Attrs["delete"].(string); del != "true" {
		topic = string(bytesOf(child.GetChildByTag("body")))
	}
	c.srv.setTopicLocked(g, actor, id, topic)
	c.send(iqResult(node))
}

// handleParticipantsLocked applies add/remove/promote/demote and answers with one participant
// per request, carrying an error code where the change did not apply. Caller holds stateLock.
func (c *conn) handleParticipantsLocked(node, child *waBinary.Node, g *group, actor *Account) {
	s := c.srv
	var asked []types.JID
	var targets []*Account
	for _, p := range child.GetChildrenByTag("participant") {
		jid, ok := p.Attrs["jid"].(types.JID)
		if !ok {
			continue
		}
		asked = append(asked, jid)
		targets = append(targets, s.accountFor(jid.ToNonAD()))
	}
	codes := s.changeParticipantsLocked(g, actor, GroupChange(child.Tag), targets)
	out := make([]waBinary.Node, len(asked))
	for i, jid := range asked {
		if targets[i] != nil {
			out[i] = participantNode(g, targets[i])
		} else {
			out[i] = waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid}}
		}
		if codes[i] != 0 {
			out[i].Attrs["error"] = strconv.Itoa(codes[i])
		}
	}
	c.send(iqResult(node, waBinary.Node{Tag: child.Tag, Content: out}))
}

// groupTimers are the disappearing-messages timers (seconds) WhatsApp accepts for groups: 24 hours,
// 7 days and 90 days; anything else is a bad request (whatsmeow's ErrInvalidDisappearingTimer).
var groupTimers = map[uint32]bool{86400: true, 604800: true, 7776000: true}

// handleEphemeralLocked sets (<ephemeral expiration=...>) or clears (<not_ephemeral/>) the group's
// disappearing-messages timer; any member may. Caller holds stateLock.
func (c *conn) handleEphemeralLocked(node, child *waBinary.Node, g *group, actor *Account) {
	var timer uint32
	if child.Tag == "ephemeral" {
		expiration, _ := child.Attrs["expiration"].(string)
		n, err := strconv.ParseUint(expiration, 10, 32)
		if err != nil || !groupTimers[uint32(n)] {
			c.send(iqError(node, 400, "bad-request"))
			return
		}
		timer = uint32(n)
	}
	c.srv.setEphemeralLocked(g, actor, timer)
	c.send(iqResult(node))
}
