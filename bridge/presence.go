package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// Contacts' presence (bridge.presence.contacts, off by default). WhatsApp tells a client a
// contact's presence only after it subscribed to it, and a subscription lasts for one connection.
// So after every connect the bridge subscribes to each contact the user has a direct chat with
// (paced by presenceSubscribeInterval, so that a user with many chats does not flood WhatsApp),
// and to a contact whose direct message arrives while not yet subscribed. Each presence sets the
// ghost's Matrix presence: "online", or "offline" with the last-seen time as status message. A
// ghost shared by several users gets the same presence from each; unchanged presence is not sent
// again.

// presenceSubscribeInterval is the pause between two presence subscriptions after a connect.
const presenceSubscribeInterval = 200 * time.Millisecond

var _ whatsapp.PresenceHandler = waRouter{}

// HandlePresence implements whatsapp.PresenceHandler: the contact's ghost gets the presence.
func (r waRouter) HandlePresence(ctx context.Context, evt *events.Presence) error {
	br := r.user.br
	if !br.Config.Bridge.Presence.Contacts {
		return nil
	}
	ghost, err := br.puppets.Get(ctx, evt.From, r.login().LIDs())
	if err != nil {
		return fmt.Errorf("failed to get ghost of %s: %w", evt.From, err)
	}
	req := ghostPresence(evt)
	if last, ok := br.ghostPresence.Load(ghost.MXID); ok && last.(mautrix.ReqPresence) == req {
		return nil
	}
	if err = ghost.EnsureRegistered(ctx); err != nil {
		return err
	}
	if err = ghost.Intent().SetPresence(ctx, req); err != nil {
		return fmt.Errorf("failed to set presence of %s: %w", ghost.MXID, err)
	}
	br.ghostPresence.Store(ghost.MXID, req)
	zerolog.Ctx(ctx).Debug().Stringer("ghost", ghost.MXID).Str("presence", string(req.Presence)).Msg("Updated ghost presence")
	return nil
}

// ghostPresence is the Matrix presence of a WhatsApp presence event.
func ghostPresence(evt *events.Presence) mautrix.ReqPresence {
	if !evt.Unavailable {
		return mautrix.ReqPresence{Presence: event.PresenceOnline}
	}
	req := mautrix.ReqPresence{Presence: event.PresenceOffline}
	if !evt.LastSeen.IsZero() {
		req.StatusMsg = "Last seen " + evt.LastSeen.UTC().Format("2006-01-02 15:04 MST")
	}
	return req
}

// subscribeDMPresence subscribes, one at a time, to the presence of every contact the user has a
// direct chat with. Run it after each connect.
func (br *Bridge) subscribeDMPresence(user *Account) {
	if !br.Config.Bridge.Presence.Contacts {
		return
	}
	ctx := user.log.WithContext(br.ctx)
	own := user.WAJID()
	if own.IsEmpty() {
		return
	}
	portals, err := br.DB.Portal.GetAllForReceiver(ctx, own.ToNonAD())
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to list direct chats for presence subscriptions")
		return
	}
	sent := 0
	for _, p := range portals {
		if !isContactJID(p.Key.JID) {
			continue
		}
		if sent > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(presenceSubscribeInterval):
			}
		}
		if ok, err := user.wa.SubscribePresence(ctx, p.Key.JID); err != nil {
			zerolog.Ctx(ctx).Debug().Err(err).Stringer("contact", p.Key.JID).Msg("Failed to subscribe to presence")
			return // most likely disconnected again; the next connect starts over
		} else if ok {
			sent++
		}
	}
	zerolog.Ctx(ctx).Debug().Int("contacts", sent).Msg("Subscribed to contacts' presence")
}

// subscribeSenderPresence subscribes to the presence of a contact whose direct message arrived, if
// this connection has no subscription for it yet.
func (br *Bridge) subscribeSenderPresence(ctx context.Context, user *Account, info types.MessageInfo) {
	if !br.Config.Bridge.Presence.Contacts || info.IsGroup || info.IsFromMe || !isContactJID(info.Chat) {
		return
	}
	if _, err := user.wa.SubscribePresence(ctx, info.Chat); err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Stringer("contact", info.Chat).Msg("Failed to subscribe to presence")
	}
}

// isContactJID reports whether jid is a person (phone JID or LID), not a group or broadcast.
func isContactJID(jid types.JID) bool {
	return jid.Server == types.DefaultUserServer || jid.Server == types.HiddenUserServer
}
