package puppet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

// LIDResolver maps between a contact's LID and phone JID. Each WhatsApp login has its own mapping
// (whatsmeow's store.LIDStore satisfies this interface, e.g. client.Store.LIDs), so it is passed
// per call rather than held by the Manager.
type LIDResolver interface {
	// GetPNForLID returns the phone JID of lid, or the empty JID (and no error) when it is unknown.
	GetPNForLID(ctx context.Context, lid types.JID) (types.JID, error)
	// GetLIDForPN returns the LID of the phone JID pn, or the empty JID (and no error) when it is unknown.
	GetLIDForPN(ctx context.Context, pn types.JID) (types.JID, error)
}

var _ LIDResolver = store.LIDStore(nil)

// ErrNotUser is returned for JIDs that cannot be a contact: groups, broadcast lists, newsletters,
// bots, or a user part that is not a number.
var ErrNotUser = errors.New("not a WhatsApp user JID")

// lidPrefix starts the identifier of LID-only ghosts: @whatsapp_lid-<digits>:domain.
const lidPrefix = "lid-"

// normalize returns jid without device and agent, on s.whatsapp.net (phone) or lid. Legacy c.us
// and hosted (business API) JIDs are folded into their ordinary forms.
func normalize(jid types.JID) (types.JID, error) {
	var server string
	switch jid.Server {
	case types.DefaultUserServer, types.LegacyUserServer, types.HostedServer:
		server = types.DefaultUserServer
	case types.HiddenUserServer, types.HostedLIDServer:
		server = types.HiddenUserServer
	default:
		return types.EmptyJID, fmt.Errorf("%w: %s", ErrNotUser, jid)
	}
	if !isDigits(jid.User) {
		return types.EmptyJID, fmt.Errorf("%w: %s", ErrNotUser, jid)
	}
	return types.NewJID(jid.User, server), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isPhone reports whether a normalized JID is a phone JID (as opposed to a LID).
func isPhone(jid types.JID) bool {
	return jid.Server == types.DefaultUserServer
}

// identifier is what goes into the username template for a normalized JID.
func identifier(jid types.JID) string {
	if isPhone(jid) {
		return jid.User
	}
	return lidPrefix + jid.User
}

// MXIDFor returns the ghost user ID of a WhatsApp user JID, taken as given: a phone JID gives the
// phone ghost and a LID gives the "lid-" ghost, without any LID resolution (use Canonical first for
// that). Device and agent parts are ignored. It returns "" for JIDs that are not users.
func (m *Manager) MXIDFor(jid types.JID) id.UserID {
	norm, err := normalize(jid)
	if err != nil {
		return ""
	}
	return id.NewUserID(m.cfg.FormatUsername(identifier(norm)), m.cfg.Homeserver.Domain)
}

// ParseMXID returns the WhatsApp JID a ghost user ID stands for (phone JID or LID), or false when
// userID is not one of this bridge's ghosts.
func (m *Manager) ParseMXID(userID id.UserID) (types.JID, bool) {
	localpart, server, err := userID.Parse()
	if err != nil || server != m.cfg.Homeserver.Domain {
		return types.EmptyJID, false
	}
	ident, ok := m.cfg.ParseUsername(localpart)
	if !ok {
		return types.EmptyJID, false
	}
	if digits, isLID := strings.CutPrefix(ident, lidPrefix); isLID {
		if !isDigits(digits) {
			return types.EmptyJID, false
		}
		return types.NewJID(digits, types.HiddenUserServer), true
	}
	if !isDigits(ident) {
		return types.EmptyJID, false
	}
	return types.NewJID(ident, types.DefaultUserServer), true
}

// IsGhost reports whether userID is in this bridge's ghost namespace with a valid WhatsApp
// identifier (the bridge bot is not a ghost).
func (m *Manager) IsGhost(userID id.UserID) bool {
	_, ok := m.ParseMXID(userID)
	return ok
}

// Canonical returns the key of the puppet that jid belongs to, without creating anything: for a
// contact first known by LID only, its LID (also when jid is its phone JID learned later); else the
// phone JID (device and agent stripped) when the number is known, from jid itself, from lids, or from
// an earlier merge recorded in the database; otherwise the LID. It agrees with the puppet Get
// returns. lids may be nil.
func (m *Manager) Canonical(ctx context.Context, jid types.JID, lids LIDResolver) (types.JID, error) {
	norm, err := normalize(jid)
	if err != nil {
		return types.EmptyJID, err
	}
	if isPhone(norm) {
		m.puppetsLock.Lock()
		defer m.puppetsLock.Unlock()
		if p, err := m.lidKeyedByPhoneLocked(ctx, norm); err != nil {
			return types.EmptyJID, err
		} else if p != nil {
			return p.JID, nil
		}
		return norm, nil
	}
	pn, err := resolvePN(ctx, norm, lids)
	if err != nil {
		return types.EmptyJID, err
	}
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	if !pn.IsEmpty() {
		// The same order as getPhone.
		if p, err := m.lidKeyedByPhoneLocked(ctx, pn); err != nil {
			return types.EmptyJID, err
		} else if p != nil {
			return p.JID, nil
		}
		if m.byJID[pn] != nil {
			return pn, nil
		} else if row, err := m.db.Puppet.GetByJID(ctx, pn); err != nil {
			return types.EmptyJID, fmt.Errorf("failed to look up puppet %s: %w", pn, err)
		} else if row != nil {
			return pn, nil
		}
		if p, err := m.lidKeyedLocked(ctx, norm); err != nil {
			return types.EmptyJID, err
		} else if p != nil {
			return norm, nil
		}
		return pn, nil
	}
	if p := m.byLID[norm]; p != nil {
		return p.JID, nil
	}
	row, err := m.db.Puppet.GetByLID(ctx, norm)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("failed to look up puppet by lid %s: %w", norm, err)
	} else if row != nil {
		return row.JID, nil
	}
	return norm, nil
}

// resolvePN asks lids (if any) for the phone JID of a normalized LID; empty when unknown.
func resolvePN(ctx context.Context, lid types.JID, lids LIDResolver) (types.JID, error) {
	if lids == nil {
		return types.EmptyJID, nil
	}
	pn, err := lids.GetPNForLID(ctx, lid)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("failed to resolve phone number of %s: %w", lid, err)
	}
	if pn.IsEmpty() {
		return types.EmptyJID, nil
	}
	norm, err := normalize(pn)
	if err != nil || !isPhone(norm) {
		return types.EmptyJID, fmt.Errorf("lid store returned %s for %s, not a phone JID", pn, lid)
	}
	return norm, nil
}

// resolveLID asks lids (if any) for the LID of a normalized phone JID; empty when unknown.
func resolveLID(ctx context.Context, pn types.JID, lids LIDResolver) (types.JID, error) {
	if lids == nil {
		return types.EmptyJID, nil
	}
	lid, err := lids.GetLIDForPN(ctx, pn)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("failed to resolve lid of %s: %w", pn, err)
	}
	if lid.IsEmpty() {
		return types.EmptyJID, nil
	}
	norm, err := normalize(lid)
	if err != nil || isPhone(norm) {
		return types.EmptyJID, fmt.Errorf("lid store returned %s for %s, not a LID", lid, pn)
	}
	return norm, nil
}
