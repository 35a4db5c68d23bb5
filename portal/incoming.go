package portal

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// The duplicate check of an incoming WhatsApp message, answered early.
//
// Before bridging a WhatsApp message the portal asks whether the message map has it already (a
// duplicate) or a placeholder stands in for it (database.PlaceholderQuery.LookUpIncoming). The
// WhatsApp inbox can ask the same question in the statement that stores the message
// (database.WhatsAppInboxQuery.EnqueueLookingUp): one database round trip fewer per message. That
// answer still holds when the portal handles the message unless the message map changed for that
// WhatsApp ID in between. The message map and the placeholders are written only by the portal's
// own goroutine, so the portal keeps a log of the events it finished, each with the WhatsApp ID it
// was about. An early answer is used only when every event finished since it was taken was about
// another known ID; after any other event (one about the same ID, a Matrix event, a backfill, an
// event whose ID is not known) the portal asks the database again.

// finishedLogSize is how many finished events a portal remembers. An answer older than that is
// not used. It covers a burst of messages of one chat stored before the portal got to the first
// (the inbox answers each at once; the portal handles them one by one at the homeserver's pace).
const finishedLogSize = 256

// finishedLog is the portal's log of finished queue events. Its entries (2 KiB) are allocated
// when the first checkpoint is taken; until then only count moves.
type finishedLog struct {
	lock sync.Mutex
	// count is how many events finished; about[i%finishedLogSize] is a hash of the WhatsApp ID
	// the i-th was about (anyID for an event that may have changed the message map of any ID).
	// Two IDs with one hash only make an answer unused.
	count uint64
	about []uint64
}

// anyID stands for an event about any ID (or none known) in finishedLog.about.
const anyID = 0

var waIDSeed = maphash.MakeSeed()

// hashWAID returns the log's hash of a WhatsApp ID: anyID for "", never anyID otherwise.
func hashWAID(waID string) uint64 {
	if waID == "" {
		return anyID
	}
	return maphash.String(waIDSeed, waID) | 1
}

// note records an event about waID ("": about any) as finished, after its writes were committed.
func (l *finishedLog) note(waID string) {
	h := hashWAID(waID)
	l.lock.Lock()
	if l.about != nil {
		l.about[l.count%finishedLogSize] = h
	}
	l.count++
	l.lock.Unlock()
}

// mark returns the count of finished events, from which on untouched can tell.
func (l *finishedLog) mark() uint64 {
	l.lock.Lock()
	defer l.lock.Unlock()
	if l.about == nil {
		l.about = make([]uint64, finishedLogSize)
	}
	return l.count
}

// untouched reports whether no event that finished after mark may have changed the message map
// for waID.
func (l *finishedLog) untouched(mark uint64, waID string) bool {
	if waID == "" {
		return false
	}
	h := hashWAID(waID)
	l.lock.Lock()
	defer l.lock.Unlock()
	if l.about == nil || l.count-mark > finishedLogSize {
		return false
	}
	for i := mark; i < l.count; i++ {
		if about := l.about[i%finishedLogSize]; about == anyID || about == h {
			return false
		}
	}
	return true
}

// IncomingCheckpoint marks the point in a portal's handling after which an early duplicate check
// is taken (Answer). It is the zero value when the portal is not loaded.
type IncomingCheckpoint struct {
	p    *Portal
	mark uint64
}

// IncomingCheckpoint returns a checkpoint for the portal of key if it is loaded (without asking
// the database), reading the log before the caller's statement, so that an event finishing during
// it counts as finished after the answer. ok is false when the portal is not loaded: the caller
// stores the message without the check.
func (m *Manager) IncomingCheckpoint(key database.PortalKey) (cp IncomingCheckpoint, ok bool) {
	m.portalsMu.Lock()
	p := m.byKey[key]
	m.portalsMu.Unlock()
	if p == nil {
		return IncomingCheckpoint{}, false
	}
	return IncomingCheckpoint{p: p, mark: p.finished.mark()}, true
}

// KnownIncoming is an early answer to a WhatsApp message's duplicate check.
type KnownIncoming struct {
	checkpoint  IncomingCheckpoint
	waID        string
	bridged     bool
	placeholder *database.Placeholder
}

// Answer records what the duplicate check of WhatsApp message waID answered after cp: whether
// the message is bridged already and its placeholder (nil: none).
func (cp IncomingCheckpoint) Answer(waID string, bridged bool, placeholder *database.Placeholder) KnownIncoming {
	return KnownIncoming{checkpoint: cp, waID: waID, bridged: bridged, placeholder: placeholder}
}

type knownIncomingKey struct{}

// WithKnownIncoming returns ctx carrying k for the handling of the message k is about.
func WithKnownIncoming(ctx context.Context, k KnownIncoming) context.Context {
	return context.WithValue(ctx, knownIncomingKey{}, k)
}

// lookUpIncoming answers the duplicate check of WhatsApp message waID: from the early answer in
// ctx when it still holds for this portal, else from the database. Called from the portal
// goroutine.
func (p *Portal) lookUpIncoming(ctx context.Context, waID string) (bridged bool, placeholder *database.Placeholder, err error) {
	if k, ok := ctx.Value(knownIncomingKey{}).(KnownIncoming); ok && k.checkpoint.p == p && k.waID == waID &&
		p.finished.untouched(k.checkpoint.mark, waID) {
		return k.bridged, k.placeholder, nil
	}
	return p.m.db.Placeholder.LookUpIncoming(ctx, p.Key, waID)
}

// finishedAbout returns the WhatsApp ID a finished queue event was about, for the log: a
// WhatsApp message writes the message map only for its own ID (its parts, its placeholder, the
// edit or deletion it carries changes a row that exists already). Every other kind is "": it may
// have written any.
func finishedAbout(evt portalEvent) string {
	if msg, ok := evt.(*waMessageEvent); ok && msg.evt != nil {
		return msg.evt.Info.ID
	}
	return ""
}
