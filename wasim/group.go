package wasim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	waBinary "go.mau.fi/whatsmeow/binary"
	"math/big"
	"time"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/types"
)

// Groups live in Server.groups (guarded by stateLock), keyed by the user part of the group JID.
// Members are accounts, not devices: every device of a member gets the group's messages and
// notifications. Groups use LID addressing: participants are announced by LID with their phone
// number attached, and message fan-out follows the server's member list, not the sender's.

// Errors returned by the group control API.
var (
	// ErrNoSuchGroup means no group has the given JID.
	ErrNoSuchGroup = errors.New("no such group")
	// ErrNotInGroup means the acting account is not a member of the group.
	ErrNotInGroup = errors.New("not a member of the group")
	// ErrNotGroupAdmin means the change needs a group admin.
	ErrNotGroupAdmin = errors.New("not a group admin")
	// ErrInvalidGroupName means the subject is empty or longer than MaxGroupNameLength.
	ErrInvalidGroupName = errors.New("invalid group name")
)

// MaxGroupNameLength is the longest subject, in characters, the simulator accepts.
const MaxGroupNameLength = 100

// Roles of group members, as the w:g2 "type" attribute spells them.
const (
	roleMember     = ""
	roleAdmin      = "admin"
	roleSuperAdmin = "superadmin"
)

// GroupChange is a change of group membership or roles.
type GroupChange string

// The participant changes UpdateGroupParticipants accepts (the w:g2 tag names).
const (
	GroupAdd     GroupChange = "add"
	GroupRemove  GroupChange = "remove"
	GroupPromote GroupChange = "promote"
	GroupDemote  GroupChange = "demote"
)

// group is the server's record of one group chat. Guarded by srv.stateLock.
type group struct {
	jid       types.JID
	creator   *Account
	created   time.Time
	subject   string
	subjectBy *Account
	subjectAt time.Time
	topic     string
	topicID   string
	topicBy   *Account
	topicAt   time.Time
	members   []*groupMember // in join order
	version   int            // participant list version, bumped on every membership change
	// ephemeral is the disappearing-messages timer in seconds, 0 when off.
	ephemeral uint32
	// locked means only admins may change the group's name and description.
	locked bool
	// pnAddressed marks an older group addressed by phone number (addressing_mode="pn"): members
	// appear by phone JID with their LID alongside. MigrateGroupToLID moves it to LID addressing.
	pnAddressed bool
	// inviteCode is the group's current invite link code, "" until an admin first asks for it.
	inviteCode string
}

// mode is the group's addressing mode as stanzas carry it.
func (g *group) mode() types.AddressingMode {
	if g.pnAddressed {
		return types.AddressingModePN
	}
	return types.AddressingModeLID
}

// memberJID names acct in the group's addressing mode.
func (g *group) memberJID(acct *Account) types.JID {
	if g.pnAddressed {
		return acct.pn
	}
	return acct.lid
}

// setMemberAttrs sets key to acct in the group's addressing mode, with the other form in
// key+"_pn" (LID groups, unless acct hides its number) or key+"_lid" (phone-number groups).
// Caller holds stateLock.
func (g *group) setMemberAttrs(attrs waBinary.Attrs, key string, acct *Account) {
	attrs[key] = g.memberJID(acct)
	if g.pnAddressed {
		attrs[key+"_lid"] = acct.lid
	} else {
		acct.setPNAttr(attrs, key+"_pn", nil)
	}
}

type groupMember struct {
	acct *Account
	role string
}

// GroupMember is a snapshot of one member of a group.
type GroupMember struct {
	Account      *Account
	IsAdmin      bool // admin or superadmin
	IsSuperAdmin bool
}

// member returns acct's membership record, or nil.
func (g *group) member(acct *Account) *groupMember {
	for _, m := range g.members {
		if m.acct == acct {
			return m
		}
	}
	return nil
}

func (g *group) isAdmin(acct *Account) bool {
	m := g.member(acct)
	return m != nil && m.role != roleMember
}

// groupFor finds a group by JID. Caller holds stateLock.
func (s *Server) groupFor(jid types.JID) *group {
	if jid.Server != types.GroupServer {
		return nil
	}
	return s.groups[jid.User]
}

// newGroupIDLocked picks an unused group id in WhatsApp's "120363…" style. Caller holds stateLock.
func (s *Server) newGroupIDLocked() string {
	if s.groups == nil {
		s.groups = make(map[string]*group)
	}
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(1e12))
		id := fmt.Sprintf("120363%012d", n.Int64())
		if s.groups[id] == nil {
			return id
		}
	}
}

func validGroupName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n > 0 && n <= MaxGroupNameLength
}

// CreateGroup creates a group named name with creator as superadmin and the given participants
// as members (duplicates and the creator himself are ignored). Every device of every member,
// the creator's included, gets a create notification (whatsmeow's events.JoinedGroup).
func (s *Server) CreateGroup(ctx context.Context, creator *Account, name string, participants ...*Account) (types.JID, error) {
	return s.createGroup(creator, name, participants, false)
}

// CreatePNGroup is CreateGroup for an older group addressed by phone number (addressing_mode="pn"):
// members appear by phone JID, with participant_lid on messages and lid in participant lists.
func (s *Server) CreatePNGroup(ctx context.Context, creator *Account, name string, participants ...*Account) (types.JID, error) {
	return s.createGroup(creator, name, participants, true)
}

// createGroup checks and creates a group for CreateGroup and CreatePNGroup.
func (s *Server) createGroup(creator *Account, name string, participants []*Account, pnAddressed bool) (types.JID, error) {
	if creator == nil {
		return types.EmptyJID, fmt.Errorf("%w: no creator", ErrNoSuchAccount)
	} else if !validGroupName(name) {
		return types.EmptyJID, fmt.Errorf("%w: %q", ErrInvalidGroupName, name)
	}
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	if s.closed {
		return types.EmptyJID, ErrServerClosed
	}
	return s.createGroupLocked(creator, name, participants, nil, pnAddressed).jid, nil
}

// MigrateGroupToLID moves a phone-number-addressed group to LID addressing, as WhatsApp migrates
// older groups: from now on messages, notifications and group info name members by LID (with
// participant_pn / phone_number). Members are not notified; clients see the new addressing in the
// next stanza and group info. Migrating a LID group is a no-op.
func (s *Server) MigrateGroupToLID(group types.JID) error {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g := s.groupFor(group)
	if g == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchGroup, group)
	}
	g.pnAddressed = false
	return nil
}

// createGroupLocked makes the group and announces it to every member device except skip (the
// device that asked by IQ and gets the group in its answer). Caller holds stateLock.
func (s *Server) createGroupLocked(creator *Account, name string, participants []*Account, skip *device, pnAddressed bool) *group {
	now := time.Now()
	g := &group{
		jid:       types.NewJID(s.newGroupIDLocked(), types.GroupServer),
		creator:   creator,
		created:   now,
		subject:   name,
		subjectBy: creator,
		subjectAt: now,
		members:   []*groupMember{{acct: creator, role: roleSuperAdmin}},

		pnAddressed: pnAddressed,
	}
	for _, acct := range participants {
		if acct != nil && g.member(acct) == nil {
			g.members = append(g.members, &groupMember{acct: acct})
		}
	}
	s.groups[g.jid.User] = g
	s.log.Debug().Stringer("group", g.jid).Int("members", len(g.members)).Msg("Group created")
	s.notifyGroupLocked(g, creator, groupMembersAccounts(g), skip, s.groupCreateNode(g, "", "new"))
	return g
}

func groupMembersAccounts(g *group) []*Account {
	out := make([]*Account, len(g.members))
	for i, m := range g.members {
		out[i] = m.acct
	}
	return out
}

// lookupGroupActor resolves a group and checks that actor belongs to it. Caller holds stateLock.
func (s *Server) lookupGroupActor(jid types.JID, actor *Account, needAdmin bool) (*group, error) {
	g := s.groupFor(jid)
	if g == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchGroup, jid)
	} else if actor == nil || g.member(actor) == nil {
		return nil, ErrNotInGroup
	} else if needAdmin && !g.isAdmin(actor) {
		return nil, ErrNotGroupAdmin
	}
	return g, nil
}

// SetGroupName changes the group's subject as actor, who must be a member. Every member device
// gets a subject notification (events.GroupInfo with Name).
func (s *Server) SetGroupName(ctx context.Context, actor *Account, jid types.JID, name string) error {
	if !validGroupName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidGroupName, name)
	}
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g, err := s.lookupGroupActor(jid, actor, false)
	if err != nil {
		return err
	}
	s.setSubjectLocked(g, actor, name)
	return nil
}

// SetGroupTopic changes (or, with an empty topic, deletes) the group's description as actor, who
// must be a member. Every member device gets a description notification (GroupInfo with Topic).
func (s *Server) SetGroupTopic(ctx context.Context, actor *Account, jid types.JID, topic string) error {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g, err := s.lookupGroupActor(jid, actor, false)
	if err != nil {
		return err
	}
	s.setTopicLocked(g, actor, s.nextID(), topic)
	return nil
}

// UpdateGroupParticipants adds, removes, promotes or demotes accounts as actor, who must be an
// admin. Accounts the change does not apply to (adding a member, removing a stranger) are
// skipped. It returns how many accounts changed.
func (s *Server) UpdateGroupParticipants(ctx context.Context, actor *Account, jid types.JID, change GroupChange, accounts ...*Account) (int, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g, err := s.lookupGroupActor(jid, actor, true)
	if err != nil {
		return 0, err
	}
	results := s.changeParticipantsLocked(g, actor, change, accounts)
	n := 0
	for _, r := range results {
		if r == 0 {
			n++
		}
	}
	return n, nil
}

// GroupMembers lists the members of a group in join order.
func (s *Server) GroupMembers(jid types.JID) ([]GroupMember, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g := s.groupFor(jid)
	if g == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchGroup, jid)
	}
	out := make([]GroupMember, len(g.members))
	for i, m := range g.members {
		out[i] = GroupMember{Account: m.acct, IsAdmin: m.role != roleMember, IsSuperAdmin: m.role == roleSuperAdmin}
	}
	return out, nil
}

// GroupName returns the group's current subject.
func (s *Server) GroupName(jid types.JID) (string, error) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	g := s.groupFor(jid)
	if g == nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchGroup, jid)
	}
	return g.subject, nil
}

// GroupsOf lists the JIDs of the groups acct belongs to, oldest first.
func (s *Server) GroupsOf(acct *Account) []types.JID {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	groups := s.groupsOfLocked(acct)
	out := make([]types.JID, len(groups))
	for i, g := range groups {
		out[i] = g.jid
	}
	return out
}
