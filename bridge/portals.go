package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// userLogin is the portal package's view of a bridge user.
type userLogin struct{ user *User }

var _ portal.Login = userLogin{}
var _ portal.Users = (*Bridge)(nil)

func (l userLogin) UserMXID() id.UserID { return l.user.MXID }

func (l userLogin) OwnJID() types.JID { return l.user.WAJID().ToNonAD() }

func (l userLogin) Client() portal.WAClient {
	if cli := l.user.getClient(); cli != nil && cli.IsConnected() {
		return cli
	}
	return nil
}

func (l userLogin) LIDs() puppet.LIDResolver {
	if cli := l.user.getClient(); cli != nil && cli.Store != nil && cli.Store.LIDs != nil {
		return cli.Store.LIDs
	}
	return nil
}

// LoginByMXID implements portal.Users.
func (br *Bridge) LoginByMXID(ctx context.Context, userID id.UserID) portal.Login {
	if br.isBridgeUser(userID) {
		return nil
	}
	user, err := br.GetUser(ctx, userID)
	if err != nil || user.WAJID().IsEmpty() {
		return nil
	}
	return userLogin{user}
}

// LoginByJID implements portal.Users: it finds the bridge user logged in as a WhatsApp account, by
// phone JID or LID.
func (br *Bridge) LoginByJID(ctx context.Context, jid types.JID) portal.Login {
	jid = jid.ToNonAD()
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	for _, user := range br.users {
		own := user.WAJID()
		if own.IsEmpty() {
			continue
		}
		if own.ToNonAD() == jid {
			return userLogin{user}
		}
		if lid := user.OwnLID(); !lid.IsEmpty() && lid == jid {
			return userLogin{user}
		}
	}
	return nil
}

// handleWhatsAppEvent receives every WhatsApp event that is not about the connection itself and
// returns whether it was handled; a message that could not be bridged is not acknowledged, so
// WhatsApp delivers it again.
func (br *Bridge) handleWhatsAppEvent(user *User, cli *whatsmeow.Client, rawEvt any) bool {
	ctx := user.log.WithContext(br.ctx)
	login := userLogin{user}
	switch evt := rawEvt.(type) {
	case *events.Message:
		br.syncPushName(ctx, login, evt.Info)
		err := retryTransient(ctx, "bridge WhatsApp message", func() error {
			return br.portals.HandleWhatsAppMessage(ctx, login, evt)
		})
		if err != nil {
			zerolog.Ctx(ctx).Err(err).Str("wa_message_id", evt.Info.ID).Stringer("chat", evt.Info.Chat).Msg("Failed to bridge WhatsApp message, it will be delivered again")
			return false
		}
	case *events.GroupInfo:
		if err := br.portals.HandleGroupInfo(ctx, login, evt); err != nil {
			zerolog.Ctx(ctx).Err(err).Stringer("chat", evt.JID).Msg("Failed to bridge group change")
			return false
		}
	case *events.JoinedGroup:
		if err := br.portals.EnsureRoom(ctx, login, evt.JID); err != nil {
			zerolog.Ctx(ctx).Err(err).Stringer("chat", evt.JID).Msg("Failed to create portal for joined group")
		}
	case *events.Receipt:
		if err := br.portals.HandleWhatsAppReceipt(ctx, login, evt); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("chat", evt.Chat).Msg("Failed to bridge WhatsApp receipt")
		}
	case *events.ChatPresence:
		if err := br.portals.HandleWhatsAppChatPresence(ctx, login, evt); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("chat", evt.Chat).Msg("Failed to bridge WhatsApp typing notification")
		}
	case *events.Picture:
		br.handlePicture(ctx, login, evt)
	case *events.PushName:
		br.syncPushName(ctx, login, types.MessageInfo{MessageSource: types.MessageSource{Sender: evt.JID}, PushName: evt.NewPushName})
	case *events.Contact:
		if action := evt.Action; action != nil {
			user.updateContact(evt.JID, func(c *types.ContactInfo) {
				c.FullName, c.FirstName = action.GetFullName(), action.GetFirstName()
			})
		}
	case *events.BusinessName:
		user.updateContact(evt.JID, func(c *types.ContactInfo) { c.BusinessName = evt.NewBusinessName })
	default:
		zerolog.Ctx(ctx).Trace().Type("event_type", rawEvt).Msg("Unhandled WhatsApp event")
	}
	return true
}

// syncPushName keeps the sender's ghost name current with the push name WhatsApp sends along, and
// checks the ghost's picture now and then.
func (br *Bridge) syncPushName(ctx context.Context, login userLogin, info types.MessageInfo) {
	if info.IsFromMe {
		return
	}
	sender := info.Sender
	if !info.SenderAlt.IsEmpty() && info.SenderAlt.Server == types.DefaultUserServer {
		sender = info.SenderAlt
	}
	ghost, err := br.puppets.Get(ctx, sender, login.LIDs())
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to get ghost for push name")
		return
	}
	if info.PushName != "" {
		login.user.updateContact(sender, func(c *types.ContactInfo) { c.PushName = info.PushName })
	}
	contact := br.contactInfo(ctx, login, ghost)
	if err = ghost.SyncProfile(ctx, contact); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to sync ghost profile")
	}
	br.refreshGhostAvatar(login.user, ghost, contact, false)
}

// contactInfo collects what the user's contact store knows about a ghost's contact.
func (br *Bridge) contactInfo(ctx context.Context, login userLogin, ghost *puppet.Puppet) puppet.ContactInfo {
	contact := puppet.FromContact(login.user.contact(ctx, ghost.JID, ghost.LID()))
	if ghost.JID.Server == types.DefaultUserServer {
		contact.Phone = "+" + ghost.JID.User
	}
	return contact
}

// syncChats creates portals for the user's WhatsApp groups right after login, so that they show up
// in Matrix without waiting for a message.
func (br *Bridge) syncChats(user *User) {
	ctx := user.log.WithContext(br.ctx)
	cli := user.getClient()
	if cli == nil {
		return
	}
	groups, err := cli.GetJoinedGroups(ctx)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to list WhatsApp groups")
		return
	}
	for _, group := range groups {
		if err = br.portals.EnsureRoom(ctx, userLogin{user}, group.JID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("chat", group.JID).Msg("Failed to create group portal")
		}
	}
	zerolog.Ctx(ctx).Info().Int("groups", len(groups)).Msg("Synced WhatsApp groups")
}

// handlePortalEvent hands a Matrix event to its portal. It reports whether the room is a portal.
func (br *Bridge) handlePortalEvent(ctx context.Context, evt *event.Event) (bool, error) {
	isPortal, err := br.portals.HandleMatrixEvent(ctx, evt)
	if !isPortal {
		return false, err
	}
	var perm portal.PermanentError
	if errors.As(err, &perm) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Matrix event cannot be bridged")
		br.sendBotNoticeTxn(ctx, evt.RoomID, "fail-"+evt.ID.String(), fmt.Sprintf("Your message was not bridged to WhatsApp: %v", perm.Err))
		return true, nil
	}
	return true, err
}
