package puppet

import (
	"context"
	"fmt"
	"sync"
	"text/template"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// defaultNameTemplate is used only if bridge.displayname_template does not parse (config
// validation rejects that, so this is a safety net).
const defaultNameTemplate = "{{or .FullName .FirstName .PushName .BusinessName .Phone}} (WA)"

// Manager is the registry of puppets: it maps WhatsApp JIDs and ghost user IDs to puppets, loading
// them from the database or creating them. It is safe for concurrent use and caches one *Puppet per
// canonical JID for the life of the process.
type Manager struct {
	cfg          *config.Config
	db           *database.Database
	as           *appservice.AppService
	log          zerolog.Logger
	nameTemplate *template.Template

	// byJID holds every loaded puppet by canonical JID, byLID those with a known LID by LID, and
	// byPhone the LID-keyed puppets whose phone number became known later by that phone JID.
	byJID   map[types.JID]*Puppet
	byLID   map[types.JID]*Puppet
	byPhone map[types.JID]*Puppet
	// notLIDKeyed are phone JIDs the database had no LID-keyed puppet for when last asked. Every
	// later way a puppet row gets a phone number (adopt, recordPhoneLocked) fills byPhone, which is
	// consulted first, so the entry cannot hide one. It spares the database a query per message
	// of an ordinary (phone-keyed) contact.
	notLIDKeyed map[types.JID]struct{}
	puppetsLock sync.Mutex
}

// NewManager creates an empty registry. It does no I/O; puppets are loaded on first use.
func NewManager(cfg *config.Config, db *database.Database, as *appservice.AppService, log zerolog.Logger) *Manager {
	log = log.With().Str("component", "puppets").Logger()
	tpl, err := template.New("displayname").Parse(cfg.Bridge.DisplaynameTemplate)
	if err != nil {
		log.Error().Err(err).Msg("Invalid bridge.displayname_template, using the default")
		tpl = template.Must(template.New("displayname").Parse(defaultNameTemplate))
	}
	return &Manager{
		cfg:          cfg,
		db:           db,
		as:           as,
		log:          log,
		nameTemplate: tpl,
		byJID:        make(map[types.JID]*Puppet),
		byLID:        make(map[types.JID]*Puppet),
		byPhone:      make(map[types.JID]*Puppet),
		notLIDKeyed:  make(map[types.JID]struct{}),
	}
}

// Get returns the puppet of the WhatsApp user jid, loading it from the database or creating (and
// storing) it. jid may be a phone JID or a LID, with or without device part; lids (may be nil)
// resolves between the two, and any mapping it knows is recorded on the puppet. A LID-only puppet
// whose phone number has become known stays the contact's puppet (keyed by LID, with the number
// recorded), so its ghost and DM portal are kept; only when a phone puppet of the same contact
// already exists too is the LID-only puppet merged into it. Get does not contact the homeserver.
func (m *Manager) Get(ctx context.Context, jid types.JID, lids LIDResolver) (*Puppet, error) {
	norm, err := normalize(jid)
	if err != nil {
		return nil, err
	}
	if isPhone(norm) {
		if p := m.cachedByPhone(norm); p != nil {
			return p, nil
		}
		if p := m.cached(norm); p != nil && (lids == nil || !p.LID().IsEmpty()) {
			return p, nil
		}
		lid, err := resolveLID(ctx, norm, lids)
		if err != nil {
			return nil, err
		}
		return m.getPhone(ctx, norm, lid)
	}
	pn, err := resolvePN(ctx, norm, lids)
	if err != nil {
		return nil, err
	} else if !pn.IsEmpty() {
		return m.getPhone(ctx, pn, norm)
	}
	return m.getLIDOnly(ctx, norm)
}

// GetByMXID returns the puppet behind a ghost user ID, loading or creating it like Get (without LID
// resolution). It returns nil, nil when userID is not a ghost of this bridge. The user ID of a
// "lid-" ghost whose contact was later merged into a phone puppet gives that phone puppet, whose
// MXID then differs from userID.
func (m *Manager) GetByMXID(ctx context.Context, userID id.UserID) (*Puppet, error) {
	jid, ok := m.ParseMXID(userID)
	if !ok {
		return nil, nil
	}
	return m.Get(ctx, jid, nil)
}

// GetAll loads every puppet stored in the database.
func (m *Manager) GetAll(ctx context.Context) ([]*Puppet, error) {
	rows, err := m.db.Puppet.GetAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load puppets: %w", err)
	}
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	puppets := make([]*Puppet, 0, len(rows))
	for _, row := range rows {
		puppets = append(puppets, m.adopt(row))
	}
	return puppets, nil
}

func (m *Manager) cached(jid types.JID) *Puppet {
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	return m.byJID[jid]
}

func (m *Manager) cachedByPhone(pn types.JID) *Puppet {
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	return m.byPhone[pn]
}

// lidKeyedByPhoneLocked returns the LID-keyed puppet that recorded pn as its phone number, loading
// it, or nil. Caller holds puppetsLock.
func (m *Manager) lidKeyedByPhoneLocked(ctx context.Context, pn types.JID) (*Puppet, error) {
	if p := m.byPhone[pn]; p != nil {
		return p, nil
	}
	if _, known := m.notLIDKeyed[pn]; known {
		return nil, nil
	}
	row, err := m.db.Puppet.GetByPhone(ctx, pn)
	if err != nil {
		return nil, fmt.Errorf("failed to look up puppet by phone %s: %w", pn, err)
	} else if row == nil {
		m.notLIDKeyed[pn] = struct{}{}
		return nil, nil
	}
	return m.adopt(row), nil
}

// lidKeyedLocked returns the puppet keyed by lid itself (a contact first known by LID only),
// loading it, or nil. Caller holds puppetsLock.
func (m *Manager) lidKeyedLocked(ctx context.Context, lid types.JID) (*Puppet, error) {
	if p := m.byJID[lid]; p != nil {
		return p, nil
	}
	row, err := m.db.Puppet.GetByJID(ctx, lid)
	if err != nil {
		return nil, fmt.Errorf("failed to load puppet %s: %w", lid, err)
	} else if row == nil {
		return nil, nil
	}
	return m.adopt(row), nil
}

// recordPhoneLocked records pn as the phone number of the LID-keyed puppet p. Caller holds
// puppetsLock.
func (m *Manager) recordPhoneLocked(ctx context.Context, p *Puppet, pn types.JID) (*Puppet, error) {
	p.lock.Lock()
	defer p.lock.Unlock()
	if p.row.Phone == pn {
		return p, nil
	}
	row := *p.row
	old := row.Phone
	row.Phone = pn
	if err := m.db.Puppet.Upsert(ctx, &row); err != nil {
		return nil, fmt.Errorf("failed to record phone number of %s: %w", p.JID, err)
	}
	p.row = &row
	if !old.IsEmpty() && m.byPhone[old] == p {
		delete(m.byPhone, old)
	}
	m.byPhone[pn] = p
	p.log.Info().Stringer("phone", pn).Msg("Phone number of LID-only contact became known; keeping its ghost")
	return p, nil
}

// adopt returns the cached puppet for row's JID, or wraps row and caches it. Caller holds puppetsLock.
func (m *Manager) adopt(row *database.Puppet) *Puppet {
	if p := m.byJID[row.JID]; p != nil {
		return p
	}
	p := m.newPuppet(row)
	m.byJID[p.JID] = p
	if !row.LID.IsEmpty() {
		m.byLID[row.LID] = p
	}
	if !row.Phone.IsEmpty() {
		m.byPhone[row.Phone] = p
	}
	return p
}

// getLIDOnly returns the puppet of a LID whose phone number the caller does not know: the phone
// puppet it was merged into earlier, or its own LID puppet (created if needed).
func (m *Manager) getLIDOnly(ctx context.Context, lid types.JID) (*Puppet, error) {
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	if p := m.byLID[lid]; p != nil {
		return p, nil
	}
	if p := m.byJID[lid]; p != nil {
		return p, nil
	}
	row, err := m.db.Puppet.GetByLID(ctx, lid)
	if err == nil && row == nil {
		row, err = m.db.Puppet.GetByJID(ctx, lid)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load puppet %s: %w", lid, err)
	}
	if row == nil {
		row = &database.Puppet{JID: lid, LID: lid}
		if err = m.db.Puppet.Upsert(ctx, row); err != nil {
			return nil, fmt.Errorf("failed to create puppet %s: %w", lid, err)
		}
		m.log.Debug().Stringer("puppet_jid", lid).Msg("Created LID-only puppet")
	}
	return m.adopt(row), nil
}

// getPhone returns the puppet of a phone JID, creating it if needed. A contact first known by LID
// only keeps its LID-keyed puppet, with pn recorded on it. Otherwise, when lid is known and not yet
// recorded on the phone puppet, the LID is recorded: a LID-only puppet of the same person is merged
// into an already existing phone puppet, and a stale claim of another phone puppet on that LID is
// dropped. All of this happens in one transaction.
func (m *Manager) getPhone(ctx context.Context, pn, lid types.JID) (*Puppet, error) {
	m.puppetsLock.Lock()
	defer m.puppetsLock.Unlock()
	if p, err := m.lidKeyedByPhoneLocked(ctx, pn); err != nil || p != nil {
		return p, err
	}
	p := m.byJID[pn]
	if p == nil {
		row, err := m.db.Puppet.GetByJID(ctx, pn)
		if err != nil {
			return nil, fmt.Errorf("failed to load puppet %s: %w", pn, err)
		}
		if row != nil {
			p = m.adopt(row)
		}
	}
	if p == nil && !lid.IsEmpty() {
		if lp, err := m.lidKeyedLocked(ctx, lid); err != nil {
			return nil, err
		} else if lp != nil && !lp.isMerged() {
			return m.recordPhoneLocked(ctx, lp, pn)
		}
	}
	if p != nil && (lid.IsEmpty() || p.LID() == lid) {
		return p, nil
	}
	return m.recordLID(ctx, p, pn, lid)
}

// Existing returns the puppet of the WhatsApp user jid like Get, but only when the contact has a
// puppet already (loaded or stored, under its phone number or its LID); otherwise nil, nil and
// nothing is created. It is for events that matter only for a ghost in use, such as a changed
// profile picture: a contact first heard of through a LID-only notification must not get a
// LID-keyed ghost before its first message names its number.
func (m *Manager) Existing(ctx context.Context, jid types.JID, lids LIDResolver) (*Puppet, error) {
	norm, err := normalize(jid)
	if err != nil {
		return nil, err
	}
	candidates := []types.JID{norm}
	if isPhone(norm) {
		if lid, err := resolveLID(ctx, norm, lids); err == nil && !lid.IsEmpty() {
			candidates = append(candidates, lid)
		}
	} else if pn, err := resolvePN(ctx, norm, lids); err == nil && !pn.IsEmpty() {
		candidates = append(candidates, pn)
	}
	for _, c := range candidates {
		if m.cached(c) != nil || (isPhone(c) && m.cachedByPhone(c) != nil) {
			return m.Get(ctx, jid, lids)
		}
		row, err := m.db.Puppet.GetByJID(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("failed to load puppet %s: %w", c, err)
		}
		if row == nil && isPhone(c) {
			if row, err = m.db.Puppet.GetByPhone(ctx, c); err != nil {
				return nil, fmt.Errorf("failed to look up puppet by phone %s: %w", c, err)
			}
		}
		if row != nil {
			return m.Get(ctx, jid, lids)
		}
	}
	return nil, nil
}
