package whatsapp

import (
	"context"
	"fmt"
	"sync"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// PresenceHandler is implemented by a Handler that follows contacts' presence (online / last seen,
// events.Presence, which WhatsApp sends only for contacts subscribed to with SubscribePresence). A
// Handler without it ignores presence.
type PresenceHandler interface {
	// HandlePresence bridges a contact's presence. evt.From is the JID the subscription used.
	HandlePresence(ctx context.Context, evt *events.Presence) error
}

// presenceSubs are the contacts subscribed to on the current connection: WhatsApp keeps presence
// subscriptions for one connection only, so they are forgotten on every (re)connect.
type presenceSubs struct {
	lock sync.Mutex
	subs map[types.JID]bool
}

func (ps *presenceSubs) reset() {
	ps.lock.Lock()
	defer ps.lock.Unlock()
	ps.subs = nil
}

// claim records jid as subscribed and reports whether it was not yet.
func (ps *presenceSubs) claim(jid types.JID) bool {
	ps.lock.Lock()
	defer ps.lock.Unlock()
	if ps.subs[jid] {
		return false
	}
	if ps.subs == nil {
		ps.subs = make(map[types.JID]bool)
	}
	ps.subs[jid] = true
	return true
}

func (ps *presenceSubs) release(jid types.JID) {
	ps.lock.Lock()
	defer ps.lock.Unlock()
	delete(ps.subs, jid)
}

// SubscribePresence asks WhatsApp for the presence of the contact jid (a phone JID or LID, device
// part ignored), now and on every change, for the rest of the current connection. It reports whether
// a subscription was sent: false when this connection already has one for jid. It fails when the
// login has no client or the request could not be sent.
func (l *Login) SubscribePresence(ctx context.Context, jid types.JID) (bool, error) {
	cli := l.Client()
	if cli == nil {
		return false, ErrNotLoggedIn
	}
	jid = jid.ToNonAD()
	if !l.presence.claim(jid) {
		return false, nil
	}
	if err := cli.SubscribePresence(ctx, jid); err != nil {
		l.presence.release(jid)
		return false, fmt.Errorf("failed to subscribe to presence of %s: %w", jid, err)
	}
	return true, nil
}

// onPresence hands a contact's presence to the handler, if it follows presence.
func (l *Login) onPresence(ctx context.Context, evt *events.Presence) bool {
	h, ok := l.opts.Handler.(PresenceHandler)
	if !ok {
		return true
	}
	return l.settle(ctx, evt, h.HandlePresence(ctx, evt), true)
}
