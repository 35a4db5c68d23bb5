// Package portal bridges one WhatsApp chat to one Matrix room.
//
// A Portal owns a single goroutine and a queue (see queue.go). Every event for the chat, from
// WhatsApp and from Matrix, is handled in that goroutine in arrival order, so ordering holds per chat
// and the portal's own state needs no locks. Callers hand an event to the queue and wait for its
// result: both inboxes (WhatsApp and Matrix, in the bridge) mark a row done only after the portal
// has bridged it.
//
// Seams: a portal reaches Matrix only through the Matrix interface (matrix.go; AppserviceMatrix is
// the real one) and WhatsApp only through the Login and WAClient interfaces (deps.go), so its
// handlers run in unit tests against fakes.
//
// Keys: a portal is identified by database.PortalKey. Group chats are shared by every bridge user in
// them (empty receiver); a 1:1 chat belongs to one bridge user and is keyed by the contact's
// canonical JID (the phone JID when known, see puppet.Manager.Canonical), so a contact addressed by
// LID and by phone number lands in the same portal.
package portal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// Manager is the registry of portals. It is safe for concurrent use.
type Manager struct {
	cfg     *config.Config
	db      *database.Database
	matrix  Matrix
	puppets *puppet.Manager
	users   Users
	log     zerolog.Logger
	ctx     context.Context
	wg      sync.WaitGroup
	// slowHandler is when the watchdog warns about a handler (slowHandlerWarning; tests shorten it).
	slowHandler time.Duration

	// reservedIDs are WhatsApp message IDs reserved in the outbox by earlier versions for Matrix
	// events still pending (LoadReservedIDs); read-only once loaded.
	reservedIDs map[id.EventID]types.MessageID

	byKey  map[database.PortalKey]*Portal
	byMXID map[id.RoomID]*Portal
	// stopped is set by Wait; no portal goroutine starts after it.
	stopped   bool
	portalsMu sync.Mutex
}

// NewManager creates the portal registry, acting on Matrix through matrix. ctx bounds the lifetime
// of every portal goroutine; Wait returns once they have all exited after ctx ends.
func NewManager(ctx context.Context, cfg *config.Config, db *database.Database, matrix Matrix, puppets *puppet.Manager, users Users, log zerolog.Logger) *Manager {
	m := &Manager{
		cfg: cfg, db: db, matrix: matrix, puppets: puppets, users: users, ctx: ctx,
		log:         log.With().Str("component", "portal").Logger(),
		slowHandler: slowHandlerWarning,
		byKey:       make(map[database.PortalKey]*Portal),
		byMXID:      make(map[id.RoomID]*Portal),
	}
	return m
}

// Wait blocks until every portal goroutine has exited (after the manager's ctx ended). From the
// moment it is called, no new portal goroutine starts: Get fails with ErrStopping.
func (m *Manager) Wait() {
	m.portalsMu.Lock()
	m.stopped = true
	m.portalsMu.Unlock()
	m.wg.Wait()
}

// Portal is one WhatsApp chat and its Matrix room.
type Portal struct {
	m   *Manager
	Key database.PortalKey

	// row is only touched from the portal goroutine after creation.
	row *database.Portal
	// mxid mirrors row.MXID for readers outside the portal goroutine.
	mxid   id.RoomID
	mxidMu sync.Mutex

	queue chan *queueItem
	// finished logs the queue's finished events for early duplicate checks (incoming.go).
	finished finishedLog
	// answeredCalls holds the IDs of calls the user answered on the phone and that have not ended
	// yet (calls.go); only the portal goroutine touches it.
	answeredCalls map[string]bool
}

// MXID returns the portal's Matrix room, or "" when no room was created yet.
func (p *Portal) MXID() id.RoomID {
	p.mxidMu.Lock()
	defer p.mxidMu.Unlock()
	return p.mxid
}

func (p *Portal) setMXID(roomID id.RoomID) {
	p.mxidMu.Lock()
	p.mxid = roomID
	p.mxidMu.Unlock()
	p.m.portalsMu.Lock()
	p.m.byMXID[roomID] = p
	p.m.portalsMu.Unlock()
}

// IsGroup reports whether the portal is a shared group chat.
func (p *Portal) IsGroup() bool {
	return p.Key.JID.Server == types.GroupServer
}

// Get returns the portal for key, loading it from the database or creating it (without a room).
// It fails with ErrStopping once Wait has been called.
func (m *Manager) Get(ctx context.Context, key database.PortalKey) (*Portal, error) {
	return m.get(ctx, key, true)
}

// getExisting returns the portal for key when the database knows it, else nil: unlike Get it never
// creates a portal row (receipts and typing of unknown chats must not).
func (m *Manager) getExisting(ctx context.Context, key database.PortalKey) (*Portal, error) {
	return m.get(ctx, key, false)
}

func (m *Manager) get(ctx context.Context, key database.PortalKey, create bool) (*Portal, error) {
	m.portalsMu.Lock()
	defer m.portalsMu.Unlock()
	if p, ok := m.byKey[key]; ok {
		return p, nil
	}
	row, err := m.db.Portal.GetByKey(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("failed to load portal %s: %w", key, err)
	}
	if row == nil {
		if !create {
			return nil, nil
		}
		row = &database.Portal{Key: key}
		if err = m.db.Portal.Insert(ctx, row); err != nil {
			return nil, fmt.Errorf("failed to create portal %s: %w", key, err)
		}
	}
	return m.startLocked(row)
}

// GetByMXID returns the portal of a Matrix room, or nil when the room is not a portal.
func (m *Manager) GetByMXID(ctx context.Context, roomID id.RoomID) (*Portal, error) {
	m.portalsMu.Lock()
	defer m.portalsMu.Unlock()
	if p, ok := m.byMXID[roomID]; ok {
		return p, nil
	}
	row, err := m.db.Portal.GetByMXID(ctx, roomID)
	if err != nil || row == nil {
		return nil, err
	}
	if p, ok := m.byKey[row.Key]; ok {
		return p, nil
	}
	return m.startLocked(row)
}

// startLocked starts the goroutine of a loaded portal. Called with portalsMu held; after Wait began
// it starts nothing (a WaitGroup must not grow while it is waited for).
func (m *Manager) startLocked(row *database.Portal) (*Portal, error) {
	if m.stopped {
		return nil, ErrStopping
	}
	p := &Portal{
		m:     m,
		Key:   row.Key,
		row:   row,
		mxid:  row.MXID,
		queue: make(chan *queueItem, 128),
	}
	m.byKey[row.Key] = p
	if row.MXID != "" {
		m.byMXID[row.MXID] = p
	}
	m.wg.Add(1)
	go p.loop()
	return p, nil
}
