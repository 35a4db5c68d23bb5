package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	waBinary "go.mau.fi/whatsmeow/binary"
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

// ErrNoPushName is returned by AnnouncePresence without a push name: WhatsApp shows a client that
// announced none as "-" (whatsmeow ErrNoPushName).
var ErrNoPushName = errors.New("no WhatsApp push name to announce")

// AnnouncePresence tells WhatsApp that the user is available (using WhatsApp now) or unavailable,
// under the push name name, as whatsmeow SendPresence does: <presence type="available|unavailable"
// name=...>. Contacts see the name on the user's messages only after it was announced on the
// current connection, typing is exchanged only while available, and delivery receipts are
// "active" (shown by the phone apps) while available and "inactive" otherwise. It fails without a
// client (ErrNotLoggedIn), without a name (ErrNoPushName), or when the stanza could not be sent.
//
// It does not call SendPresence, which reads the device store's push name while whatsmeow's app
// state goroutine may write it; the name comes from the caller (Login.OwnPushName or the stored
// copy) instead.
func (l *Login) AnnouncePresence(ctx context.Context, available bool, name string) error {
	cli := l.Client()
	if cli == nil {
		return ErrNotLoggedIn
	} else if name == "" {
		return ErrNoPushName
	}
	state := types.PresenceUnavailable
	if available {
		state = types.PresenceAvailable
	}
	// Receipts first: once WhatsApp has the announcement, a message may arrive at once.
	cli.SetForceActiveDeliveryReceipts(available)
	//lint:ignore SA1019 SendNode is the only way to send SendPresence's stanza without its racy read (see above).
	err := cli.DangerousInternals().SendNode(ctx, waBinary.Node{
		Tag:   "presence",
		Attrs: waBinary.Attrs{"type": string(state), "name": name},
	})
	if err != nil {
		return fmt.Errorf("failed to announce presence %s: %w", state, err)
	}
	return nil
}
