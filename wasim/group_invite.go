package wasim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Group invite links, as WhatsApp serves them (whatsmeow group.go: GetGroupInviteLink,
// GetGroupInfoFromLink, JoinGroupWithLink):
//
//   - <iq xmlns=w:g2 type=get to=GROUP><invite/></iq> asks an admin's group for its link code,
//     answered <invite code=CODE/>; type=set revokes the current code and issues a new one, which
//     every member hears of (<notification type=w:gp2><invite code=CODE/>, GroupInfo.NewInviteLink).
//     Non-admins get 401 not-authorized, non-members 403 forbidden, unknown groups 404.
//   - <iq xmlns=w:g2 type=get to=g.us><invite code=CODE/></iq> describes the group behind a code
//     (<group …/> as a group query answers it); type=set joins it, answered <group jid=GROUP/>.
//     A revoked code is 410 gone (whatsmeow's ErrInviteLinkRevoked), a code never issued 406
//     not-acceptable (ErrInviteLinkInvalid).
//
// A join is announced like an admin's add, with reason="invite" and the newcomer as actor: the
// members see a join, every device of the newcomer (the asking one too) a create notification
// (events.JoinedGroup). Joining a group one is already in changes nothing and answers the group.

// inviteCodeLength is the length of a link code, as WhatsApp's (22 letters and digits).
const inviteCodeLength = 22

// inviteCode is one issued link code: its group, and whether a reset revoked it.
type inviteCode struct {
	group   *group
	revoked bool
}

// ErrInviteLinkRevoked means the link's code was replaced by a reset.
var ErrInviteLinkRevoked = errors.New("invite link revoked")

// ErrInvalidInviteLink means the code was never issued.
var ErrInvalidInviteLink = errors.New("invalid invite link")

// InviteLinkPrefix starts every invite link (whatsmeow.InviteLinkPrefix).
const InviteLinkPrefix = "https://chat.whatsapp.com/"

// GroupInviteLink returns the group's invite link as actor, who must be an admin; with reset the
// old link is revoked first and members are told of the new one, as the phone's "Reset link"
// does.
func (s *Server) GroupInviteLink(ctx context.Context, actor *Account, jid types.JID, reset bool) (string, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g, err := s.lookupGroupActor(jid, actor, true)
	if err != nil {
		return "", err
	}
	return InviteLinkPrefix + s.inviteCodeLocked(g, actor, reset), nil
}

// JoinGroupWithLink joins acct to the group behind an invite link (or bare code), as tapping
// the link on the phone does, and returns the group.
func (s *Server) JoinGroupWithLink(ctx context.Context, acct *Account, link string) (types.JID, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g, err := s.groupForCodeLocked(strings.TrimPrefix(link, InviteLinkPrefix))
	if err != nil {
		return types.EmptyJID, err
	}
	s.joinByLinkLocked(g, acct)
	return g.jid, nil
}

// inviteCodeLocked returns g's current code, issuing one if there is none or reset is set. A
// reset is announced to every member. Caller holds stateLock.
func (s *Server) inviteCodeLocked(g *group, actor *Account, reset bool) string {
	if g.inviteCode != "" && !reset {
		return g.inviteCode
	}
	if s.inviteCodes == nil {
		s.inviteCodes = make(map[string]inviteCode)
	}
	if g.inviteCode != "" {
		s.inviteCodes[g.inviteCode] = inviteCode{group: g, revoked: true}
	}
	code := rand.Text()[:inviteCodeLength]
	for s.inviteCodes[code].group != nil {
		code = rand.Text()[:inviteCodeLength]
	}
	s.inviteCodes[code] = inviteCode{group: g}
	had := g.inviteCode != ""
	g.inviteCode = code
	if had {
		s.notifyGroupLocked(g, actor, groupMembersAccounts(g), nil, waBinary.Node{Tag: "invite", Attrs: waBinary.Attrs{"code": code}})
	}
	return code
}

// groupForCodeLocked resolves a link code. Caller holds stateLock.
func (s *Server) groupForCodeLocked(code string) (*group, error) {
	ic, ok := s.inviteCodes[code]
	switch {
	case !ok || s.groups[ic.group.jid.User] != ic.group:
		return nil, fmt.Errorf("%w: %q", ErrInvalidInviteLink, code)
	case ic.revoked:
		return nil, fmt.Errorf("%w: %q", ErrInviteLinkRevoked, code)
	}
	return ic.group, nil
}

// joinByLinkLocked adds acct to g as a member who followed a link. Caller holds stateLock.
func (s *Server) joinByLinkLocked(g *group, acct *Account) {
	if g.member(acct) != nil {
		return
	}
	before := groupMembersAccounts(g)
	g.members = append(g.members, &groupMember{acct: acct})
	g.version++
	s.notifyGroupLocked(g, acct, before, nil, participantListNode(g, "add", "invite", []*Account{acct}))
	s.notifyGroupLocked(g, acct, []*Account{acct}, nil, s.groupCreateNode(g, "invite", ""))
}

// handleInviteLinkLocked answers <invite/> addressed to a group: get its code, or reset it
// (type=set). Only admins may. Caller holds stateLock and has checked membership.
func (c *conn) handleInviteLinkLocked(node *waBinary.Node, g *group, actor *Account) {
	if !g.isAdmin(actor) {
		c.send(iqError(node, 401, "not-authorized"))
		return
	}
	reset := node.Attrs["type"] == "set"
	code := c.srv.inviteCodeLocked(g, actor, reset)
	c.send(iqResult(node, waBinary.Node{Tag: "invite", Attrs: waBinary.Attrs{"code": code}}))
}

// handleInviteCodeLocked answers <invite code=…/> addressed to g.us: describe the group behind
// the code (get) or join it (set). Caller holds stateLock.
func (c *conn) handleInviteCodeLocked(node, child *waBinary.Node, dev *device) {
	s := c.srv
	code, _ := child.Attrs["code"].(string)
	g, err := s.groupForCodeLocked(code)
	switch {
	case err == nil:
	case errors.Is(err, ErrInviteLinkRevoked):
		c.send(iqError(node, 410, "gone"))
		return
	default:
		c.send(iqError(node, 406, "not-acceptable"))
		return
	}
	if node.Attrs["type"] != "set" {
		c.send(iqResult(node, s.groupNodeLocked(g)))
		return
	}
	c.send(iqResult(node, waBinary.Node{Tag: "group", Attrs: waBinary.Attrs{"jid": g.jid}}))
	s.joinByLinkLocked(g, dev.acct)
}
