package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// userLogin is the portal package's view of a bridge user.
type userLogin struct{ user *Account }

var _ portal.Login = userLogin{}
var _ portal.Users = (*Bridge)(nil)

func (l userLogin) UserMXID() id.UserID { return l.user.MXID }

func (l userLogin) OwnJID() types.JID {
	if jid := l.user.WAJID(); !jid.IsEmpty() {
		return jid.ToNonAD()
	}
	// Right after a pairing, before the login is stored.
	return l.user.wa.JID().ToNonAD()
}

func (l userLogin) Client() portal.WAClient {
	if cli := l.user.wa.ConnectedClient(); cli != nil {
		// What portals send to WhatsApp is counted here (metrics).
		return l.user.br.metrics.WAClient(whatsapp.LeaseEndingClient{Client: cli})
	}
	return nil
}

func (l userLogin) LIDs() puppet.LIDResolver {
	if lids := l.user.wa.LIDs(); lids != nil {
		return lids
	}
	return nil
}

// DoublePuppeted implements portal.Login.
func (l userLogin) DoublePuppeted() bool { return l.user.doublePuppetOn() }

// Avatar implements portal.Login: it looks up a user's or group's picture.
func (l userLogin) Avatar(ctx context.Context, jid types.JID, existingID string) (*puppet.Avatar, error) {
	pic, err := l.user.wa.Picture(ctx, jid, existingID)
	return avatarOf(pic), err
}

// LoginByMXID implements portal.Users (User.AccountForChat).
func (br *Bridge) LoginByMXID(ctx context.Context, userID id.UserID, key database.PortalKey) portal.Login {
	if br.isBridgeUser(userID) {
		return nil
	}
	user, err := br.GetUser(ctx, userID)
	if err != nil {
		return nil
	}
	acct := user.AccountForChat(key)
	if acct.WAJID().IsEmpty() {
		return nil
	}
	return userLogin{acct}
}

// LoginByJID implements portal.Users: it finds the bridge user's account logged in as a WhatsApp
// account, by phone JID or LID.
func (br *Bridge) LoginByJID(ctx context.Context, jid types.JID) portal.Login {
	jid = jid.ToNonAD()
	for _, acct := range br.linkedAccounts() {
		if acct.WAJID().ToNonAD() == jid {
			return userLogin{acct}
		}
		if lid := acct.wa.LID(); !lid.IsEmpty() && lid == jid {
			return userLogin{acct}
		}
	}
	return nil
}

// syncPushName keeps the sender's ghost name current with the push name WhatsApp sends along, and
// checks the ghost's picture now and then.
func (br *Bridge) syncPushName(ctx context.Context, login userLogin, info types.MessageInfo) {
	if info.IsFromMe {
		return
	}
	// The login's contacts already have the push name (whatsapp.Login notes it before the event
	// reaches the bridge).
	ghost, err := br.puppets.Get(ctx, whatsapp.Sender(info), login.LIDs())
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to get ghost for push name")
		return
	}
	if err = br.syncGhost(ctx, login, ghost, nil); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to sync ghost profile")
	}
	br.refreshGhostAvatar(login, ghost, false)
}

// syncGhost brings a ghost's name up to date with what the login's contacts know when the sync
// runs (not when it was asked for, see puppet.SyncProfileFrom), and its avatar with avatar unless
// that is nil.
func (br *Bridge) syncGhost(ctx context.Context, login userLogin, ghost *puppet.Puppet, avatar *puppet.Avatar) error {
	return ghost.SyncProfileFrom(ctx, func() puppet.ContactInfo {
		contact := br.contactInfo(ctx, login, ghost)
		contact.Avatar = avatar
		return contact
	})
}

// contactInfo collects what the user's contact store knows about a ghost's contact, with the saved
// name chosen by the rule for shared ghosts (applySavedName).
func (br *Bridge) contactInfo(ctx context.Context, login userLogin, ghost *puppet.Puppet) puppet.ContactInfo {
	contact := puppet.FromContact(login.user.wa.Contact(ctx, ghost.ContactJIDs()...))
	br.applySavedName(ctx, ghost, &contact) // appstate.go: the rule for shared ghosts
	if pn := ghost.Phone(); !pn.IsEmpty() {
		contact.Phone = "+" + pn.User
	}
	return contact
}

// syncChats creates portals for the user's WhatsApp groups right after login, so that they show up
// in Matrix without waiting for a message.
func (br *Bridge) syncChats(user *Account) {
	ctx := user.log.WithContext(br.ctx)
	cli := user.wa.Client()
	if cli == nil {
		return
	}
	var groups []*types.GroupInfo
	err := portal.RetryRateLimited(ctx, "list your groups", func() (err error) {
		groups, err = cli.GetJoinedGroups(ctx)
		return err
	})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to list WhatsApp groups")
		if portal.IsRateLimited(err) {
			user.notify("WhatsApp is limiting how often the bridge may read your groups, so your group chats were not all set up after login. Each one appears with its next message.")
		}
		return
	}
	jids := make([]types.JID, 0, len(groups))
	for _, group := range groups {
		jids = append(jids, group.JID)
	}
	user.noteGroups(true, jids...)
	for _, group := range groups {
		if err = br.portals.EnsureRoom(ctx, userLogin{user}, group.JID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("chat", group.JID).Msg("Failed to create group portal")
		}
	}
	zerolog.Ctx(ctx).Info().Int("groups", len(groups)).Msg("Synced WhatsApp groups")
}

// handlePortalEvent hands a Matrix event to its portal. It reports whether the room is a portal.
func (br *Bridge) handlePortalEvent(ctx context.Context, evt *event.Event) (bool, error) {
	br.noteMatrixActivity(ctx, evt.Sender, time.UnixMilli(evt.Timestamp)) // presence_own.go
	p, err := br.portals.GetByMXID(ctx, evt.RoomID)
	if err != nil {
		return false, err
	}
	if p != nil && evt.Type != event.StateMember {
		// Only a member of a portal's room speaks in it (membership changes are the homeserver's
		// to authorise, and a leave is how a member goes). Checked first, so that an event in
		// the name of someone outside the room gets no answer in it.
		if joined, err := br.isJoined(ctx, evt.RoomID, evt.Sender); err != nil {
			return true, err
		} else if !joined {
			zerolog.Ctx(ctx).Warn().Msg("Not bridging an event from a user who is not in the portal's room")
			return true, nil
		}
	}
	if level := br.Config.PermissionLevel(evt.Sender.String()); level < config.LevelUser &&
		!(br.Config.Bridge.Relay.Enabled && level >= config.LevelRelay) {
		// Permission is checked on every event, not only at login: a user whose level was lowered
		// after logging in is no longer bridged. With relay mode on, relay-level users' messages
		// go to the portal, which relays them where a relay is set.
		if p == nil {
			return false, nil
		}
		zerolog.Ctx(ctx).Info().Msg("Not bridging event from user without permission")
		br.sendBotNoticeTxn(ctx, evt.RoomID, "perm-"+evt.ID.String(),
			eventNoun(evt)+" was not bridged to WhatsApp: you are not allowed to use this bridge.")
		return true, toldError{err: errNoPermission}
	}
	isPortal, err := br.portals.HandleMatrixEvent(ctx, evt)
	if !isPortal {
		return false, err
	}
	var perm portal.PermanentError
	if errors.As(err, &perm) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Matrix event cannot be bridged")
		br.sendBotNoticeTxn(ctx, evt.RoomID, "fail-"+evt.ID.String(), fmt.Sprintf("%s was not bridged to WhatsApp: %v", eventNoun(evt), perm.Err))
		return true, toldError{err: err}
	}
	return true, err
}

// eventNoun names what a Matrix event is to its sender, for notices: "Your reaction", "Your
// deletion", "Your edit", "Your change" (a state event such as the room name), else "Your message".
func eventNoun(evt *event.Event) string {
	switch {
	case evt.Type == event.EventReaction:
		return "Your reaction"
	case evt.Type == event.EventRedaction:
		return "Your deletion"
	case evt.StateKey != nil:
		return "Your change"
	case evt.Type == event.EventMessage && evt.Content.AsMessage().RelatesTo.GetReplaceID() != "":
		return "Your edit"
	}
	return "Your message"
}
