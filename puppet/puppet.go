package puppet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Puppet is one WhatsApp contact and its Matrix ghost user. Get puppets from a Manager; do not
// construct them. JID and MXID never change; the rest is read through methods.
type Puppet struct {
	// JID is the canonical key: the phone JID when known, else the LID JID. No device part.
	JID types.JID
	// MXID is the ghost's Matrix user ID, derived from JID by bridge.username_template.
	MXID id.UserID

	m   *Manager
	log zerolog.Logger

	// syncLock serializes profile syncs; it is held across homeserver requests and taken before lock.
	syncLock sync.Mutex
	// registerLock serializes the ghost's first registration (see EnsureRegistered).
	registerLock sync.Mutex
	// lock guards row and merged; it is never held across network I/O.
	lock sync.Mutex
	row  *database.Puppet
	// merged is set when this LID-only puppet was merged into a phone puppet; it is then inert.
	merged bool
}

func (m *Manager) newPuppet(row *database.Puppet) *Puppet {
	mxid := m.MXIDFor(row.JID)
	return &Puppet{
		JID:  row.JID,
		MXID: mxid,
		m:    m,
		log:  m.log.With().Stringer("puppet_jid", row.JID).Stringer("puppet_mxid", mxid).Logger(),
		row:  row,
	}
}

// LID returns the contact's LID, or the empty JID when it is not known. For a LID-only puppet it
// equals JID.
func (p *Puppet) LID() types.JID {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.LID
}

// IsLIDOnly reports whether the puppet is keyed by LID, so the ghost is a "lid-" ghost. Its phone
// number may have become known later (see Phone).
func (p *Puppet) IsLIDOnly() bool {
	return !isPhone(p.JID)
}

// Phone returns the contact's phone JID: JID for phone puppets, the number learned later for
// LID-keyed puppets, or the empty JID when the number is unknown.
func (p *Puppet) Phone() types.JID {
	if isPhone(p.JID) {
		return p.JID
	}
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.Phone
}

// ContactJIDs lists the JIDs the contact's information may be stored under in a WhatsApp contact
// store, best first: the phone JID when known (address book names are kept by number), then the
// LID. Pass them to whatsapp.Login.Contact.
func (p *Puppet) ContactJIDs() []types.JID {
	out := make([]types.JID, 0, 2)
	if pn := p.Phone(); !pn.IsEmpty() {
		out = append(out, pn)
	}
	if lid := p.LID(); !lid.IsEmpty() && lid != p.JID {
		out = append(out, lid)
	} else if !isPhone(p.JID) {
		out = append(out, p.JID)
	}
	return out
}

func (p *Puppet) isMerged() bool {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.merged
}

// DisplayName returns the ghost's display name as last rendered by SyncProfile ("" before the first
// sync).
func (p *Puppet) DisplayName() string {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.Name
}

// NameSource says which kind of contact information the display name came from: "contact",
// "business", "push", "phone" or "fallback" ("" before the first sync).
func (p *Puppet) NameSource() string {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.NameSource
}

// AvatarID returns WhatsApp's ID of the picture last applied ("" = none). Pass it to whatsmeow's
// GetProfilePictureInfo as ExistingID to learn whether the picture changed.
func (p *Puppet) AvatarID() string {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.AvatarID
}

// AvatarURL returns the Matrix content URI of the ghost's avatar ("" = none).
func (p *Puppet) AvatarURL() id.ContentURIString {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.AvatarMXC
}

// ContactInfoUpdatedAt returns when SyncProfile last received a picture check for this contact (zero
// if never); callers use it to decide when to ask WhatsApp again.
func (p *Puppet) ContactInfoUpdatedAt() time.Time {
	p.lock.Lock()
	defer p.lock.Unlock()
	return p.row.ContactInfoUpdatedAt
}

// Snapshot returns a copy of the puppet's stored row.
func (p *Puppet) Snapshot() database.Puppet {
	p.lock.Lock()
	defer p.lock.Unlock()
	return *p.row
}

// Intent returns the appservice intent that acts as this ghost. It is cached by the appservice.
func (p *Puppet) Intent() *appservice.IntentAPI {
	return p.m.as.Intent(p.MXID)
}

// muteTimeout bounds the request that mutes a ghost's notifications.
const muteTimeout = 5 * time.Second

// EnsureRegistered registers the ghost with the homeserver (m.login.application_service) unless
// that was already done by this process; "user in use" counts as success. A ghost the homeserver
// creates now gets its notifications muted (MuteNotifications; a failure there is logged, not
// returned). Call it before making the ghost act (join, send) through Intent.
//
// mautrix's intent remembers its registration in an unsynchronised field, so the first registration
// happens under registerLock, and every path that uses the intent goes through here first: that
// orders the intent's write before all later reads.
func (p *Puppet) EnsureRegistered(ctx context.Context) error {
	p.registerLock.Lock()
	defer p.registerLock.Unlock()
	intent := p.Intent()
	if intent == nil {
		return fmt.Errorf("no intent for %s: user ID is not on the appservice's homeserver", p.MXID)
	}
	if intent.Registered {
		return nil
	}
	// As intent.EnsureRegistered, but telling a user the homeserver created now from one it
	// already had (M_USER_IN_USE): only a new ghost gets its notifications muted, with a request
	// bounded to a few seconds, so that a homeserver that does not answer it holds up the ghost's
	// first use no longer. The state store is in memory, so after a start every ghost registers
	// again; existing ones cost no second mute.
	store := p.m.as.StateStore
	if registered, err := store.IsRegistered(ctx, p.MXID); err != nil {
		return fmt.Errorf("failed to check whether ghost %s is registered: %w", p.MXID, err)
	} else if !registered {
		err = intent.Register(ctx)
		created := err == nil
		if err != nil && !errors.Is(err, mautrix.MUserInUse) {
			return fmt.Errorf("failed to register ghost %s: %w", p.MXID, err)
		}
		if err = store.MarkRegistered(ctx, p.MXID); err != nil {
			return fmt.Errorf("failed to mark ghost %s registered: %w", p.MXID, err)
		}
		if created {
			muteCtx, cancel := context.WithTimeout(ctx, muteTimeout)
			err = MuteNotifications(muteCtx, intent.Client)
			cancel()
			if err != nil {
				p.log.Warn().Err(err).Msg("Failed to mute the ghost's notifications")
			}
		}
	}
	intent.Registered = true
	return nil
}

// saveProfile copies the profile fields of synced (the name and avatar state, which only
// SyncProfile changes) into the puppet's row and stores it. The LID is left as the Manager set it.
// A puppet merged meanwhile is not stored again.
func (p *Puppet) saveProfile(ctx context.Context, synced *database.Puppet) error {
	p.lock.Lock()
	defer p.lock.Unlock()
	if p.merged {
		return nil
	}
	row := *p.row
	row.Name, row.NameSource, row.NameSet = synced.Name, synced.NameSource, synced.NameSet
	row.AvatarID, row.AvatarMXC, row.AvatarSet = synced.AvatarID, synced.AvatarMXC, synced.AvatarSet
	row.ContactInfoUpdatedAt = synced.ContactInfoUpdatedAt
	if err := p.m.db.Puppet.Upsert(ctx, &row); err != nil {
		return fmt.Errorf("failed to save puppet %s: %w", p.JID, err)
	}
	p.row = &row
	return nil
}
