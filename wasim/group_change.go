package wasim

import (
	"slices"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// Per-participant result codes of a membership change, as w:g2 answers carry them.
const (
	codeNotMember     = 404 // remove, promote or demote of a non-member; add of an unknown user
	codeNotAcceptable = 406 // demoting or removing the group's superadmin
	codeAlreadyMember = 409 // add of a member
)

// setSubjectLocked renames the group and tells every member. Caller holds stateLock.
func (s *Server) setSubjectLocked(g *group, actor *Account, name string) {
	g.subject, g.subjectBy, g.subjectAt = name, actor, time.Now()
	attrs := waBinary.Attrs{"subject": name, "s_t": nowString()}
	g.setMemberAttrs(attrs, "s_o", actor)
	s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, waBinary.Node{Tag: "subject", Attrs: attrs})
}

// setTopicLocked sets the description (an empty topic deletes it) and tells every member.
// Caller holds stateLock.
func (s *Server) setTopicLocked(g *group, actor *Account, id, topic string) {
	g.topic, g.topicID, g.topicBy, g.topicAt = topic, id, actor, time.Now()
	body := waBinary.Node{Tag: "body", Content: []byte(topic)}
	if topic == "" {
		body = waBinary.Node{Tag: "delete"}
	}
	s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, waBinary.Node{
		Tag: "description", Attrs: waBinary.Attrs{"id": id}, Content: []waBinary.Node{body},
	})
}

// setEphemeralLocked sets the group's disappearing-messages timer (seconds, 0: off) and tells every
// member. Caller holds stateLock.
func (s *Server) setEphemeralLocked(g *group, actor *Account, timer uint32) {
	g.ephemeral = timer
	change := waBinary.Node{Tag: "not_ephemeral"}
	if timer > 0 {
		change = waBinary.Node{Tag: "ephemeral", Attrs: waBinary.Attrs{"expiration": strconv.FormatUint(uint64(timer), 10)}}
	}
	s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, change)
}

// changeParticipantsLocked applies one membership or role change to each target and announces
// the ones that took effect. codes[i] is 0 for a change that applied, else the w:g2 error code
// for targets[i] (nil targets are unknown users). Caller holds stateLock.
func (s *Server) changeParticipantsLocked(g *group, actor *Account, change GroupChange, targets []*Account) []int {
	codes := make([]int, len(targets))
	var changed []*Account
	before := groupMembersAccounts(g)
	for i, acct := range targets {
		m := (*groupMember)(nil)
		if acct != nil {
			m = g.member(acct)
		}
		switch {
		case acct == nil:
			codes[i] = codeNotMember
		case change == GroupAdd && m != nil:
			codes[i] = codeAlreadyMember
		case change == GroupAdd:
			g.members = append(g.members, &groupMember{acct: acct})
		case m == nil:
			codes[i] = codeNotMember
		case (change == GroupRemove || change == GroupDemote) && m.role == roleSuperAdmin && acct != actor:
			codes[i] = codeNotAcceptable
		case change == GroupRemove:
			g.removeMember(acct)
		case change == GroupPromote:
			if m.role == roleMember {
				m.role = roleAdmin
			}
		case change == GroupDemote:
			m.role = roleMember
		}
		if codes[i] == 0 {
			changed = append(changed, acct)
		}
	}
	if len(changed) == 0 {
		return codes
	}
	switch change {
	case GroupAdd:
		g.version++
		// Existing members and the actor see a Join; the newcomers get the whole group as a
		// create notification (events.JoinedGroup), which also fills their member cache.
		s.notifyGroupLocked(g, actor, before, nil, participantListNode(g, "add", "added", changed))
		s.notifyGroupLocked(g, actor, changed, nil, s.groupCreateNode(g, "add", ""))
	case GroupRemove:
		g.version++
		// The removed members hear of it too, before they stop getting anything.
		s.notifyGroupLocked(g, actor, before, nil, participantListNode(g, "remove", "removed", changed))
		s.ensureAdminLocked(g)
	default:
		s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, participantListNode(g, string(change), "", changed))
	}
	return codes
}

// leaveGroupLocked removes acct at its own request. Caller holds stateLock.
func (s *Server) leaveGroupLocked(g *group, acct *Account) {
	before := groupMembersAccounts(g)
	g.removeMember(acct)
	g.version++
	s.notifyGroupLocked(g, acct, before, nil, participantListNode(g, "remove", "leave", []*Account{acct}))
	s.ensureAdminLocked(g)
}

// ensureAdminLocked promotes the longest-standing member when the last admin is gone, as
// WhatsApp does. Caller holds stateLock.
func (s *Server) ensureAdminLocked(g *group) {
	if len(g.members) == 0 {
		return
	}
	for _, m := range g.members {
		if m.role != roleMember {
			return
		}
	}
	heir := g.members[0]
	heir.role = roleAdmin
	s.notifyGroupLocked(g, nil, groupMembersAccounts(g), nil, participantListNode(g, "promote", "", []*Account{heir.acct}))
}

func (g *group) removeMember(acct *Account) {
	for i, m := range g.members {
		if m.acct == acct {
			g.members = append(g.members[:i], g.members[i+1:]...)
			return
		}
	}
}

// groupsOfLocked lists the groups acct belongs to, oldest first. Caller holds stateLock.
func (s *Server) groupsOfLocked(acct *Account) []*group {
	var out []*group
	for _, g := range s.groups {
		if g.member(acct) != nil {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *group) int { return a.created.Compare(b.created) })
	return out
}
