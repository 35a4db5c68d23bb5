package bridge

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// waRouter routes the WhatsApp events of one user's login to the portals, the ghosts and the
// user's management room. Its methods run on whatsmeow's event goroutine, see whatsapp.Handler.
type waRouter struct{ user *Account }

var _ whatsapp.Handler = waRouter{}

// login is the user's login as the portals see it.
func (r waRouter) login() userLogin { return userLogin(r) }

// HandleMessage implements whatsapp.Handler: the message is stored in the WhatsApp inbox
// (whatsapp_inbox.go), which bridges it in order after the handler returned; the sender's ghost is
// refreshed there too.
func (r waRouter) HandleMessage(ctx context.Context, evt *events.Message) error {
	return r.store(ctx, evt.Info.Chat, evt.Info.ID, evt)
}

// HandleGroupInfo implements whatsapp.Handler: the change is stored in the WhatsApp inbox.
func (r waRouter) HandleGroupInfo(ctx context.Context, evt *events.GroupInfo) error {
	return r.store(ctx, evt.JID, "", evt)
}

// HandleJoinedGroup implements whatsapp.Handler: the WhatsApp inbox creates the group's portal.
func (r waRouter) HandleJoinedGroup(ctx context.Context, evt *events.JoinedGroup) error {
	return r.store(ctx, evt.JID, "", evt)
}

// HandleReceipt implements whatsapp.Handler: a receipt that shows in Matrix (a read receipt) is
// stored in the WhatsApp inbox, behind the messages of its chat that arrived before it; the others
// (delivery receipts above all, one or more for every message sent) are dropped here.
func (r waRouter) HandleReceipt(ctx context.Context, evt *events.Receipt) error {
	if !portal.ShowsReceipt(r.login(), evt) {
		return nil
	}
	var waID types.MessageID
	if len(evt.MessageIDs) > 0 {
		waID = evt.MessageIDs[0]
	}
	return r.store(ctx, evt.Chat, waID, evt)
}

// store writes a portal-bound event to the WhatsApp inbox; on an error WhatsApp delivers it again.
func (r waRouter) store(ctx context.Context, chat types.JID, waID types.MessageID, evt any) error {
	if err := r.user.br.storeWhatsAppEvent(ctx, r.user, chat, waID, evt); err != nil {
		return fmt.Errorf("failed to store WhatsApp event in %s: %w", chat, err)
	}
	return nil
}

// HandleChatPresence implements whatsapp.Handler.
func (r waRouter) HandleChatPresence(ctx context.Context, evt *events.ChatPresence) error {
	if err := r.user.br.portals.HandleWhatsAppChatPresence(ctx, r.login(), evt); err != nil {
		return fmt.Errorf("failed to bridge typing notification in %s: %w", evt.Chat, err)
	}
	return nil
}

// HandlePicture implements whatsapp.Handler.
func (r waRouter) HandlePicture(ctx context.Context, evt *events.Picture) error {
	return r.user.br.handlePicture(ctx, r.login(), evt)
}

// HandlePushName implements whatsapp.Handler: the contact's ghost takes the new name.
func (r waRouter) HandlePushName(ctx context.Context, evt *events.PushName) error {
	info := types.MessageInfo{MessageSource: types.MessageSource{Sender: evt.JID}, PushName: evt.NewPushName}
	r.user.br.syncPushName(ctx, r.login(), info)
	return nil
}

// Connected implements whatsapp.Handler: the user's presence and name are announced, Matrix
// messages that waited for the connection go out now, and the user's groups get their portals.
func (r waRouter) Connected(ctx context.Context) {
	br, user := r.user.br, r.user
	// First, so that what goes out now carries the user's name (presence_own.go).
	user.presenceConnected(ctx)
	br.clearPending(ctx, user.MXID)
	br.wakeInbox()
	br.spawn(func() {
		br.syncChats(user)
	})
	br.spawn(func() {
		br.subscribeDMPresence(user) // presence.go
	})
	br.spawn(func() {
		r.resumeHistory(user.log.WithContext(br.ctx)) // history_store.go
	})
}

// LoggedOut implements whatsapp.Handler: the user's login is forgotten and they are told why.
func (r waRouter) LoggedOut(ctx context.Context, reason string) {
	phone := r.user.Phone()
	if err := r.user.clearLogin(ctx); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to clear login after logout")
	}
	if len(r.user.Accounts()) > 0 && phone != "" {
		// The user's other logins stay: say which one ended.
		r.user.notify(fmt.Sprintf("You were logged out of WhatsApp as +%s: %s. Your other logins stay; send `login` to link +%s again.", phone, reason, phone))
		return
	}
	r.user.notify(fmt.Sprintf("You were logged out of WhatsApp: %s. Send `login` to log in again.", reason))
}

// Alert implements whatsapp.Handler: the user hears about the problem in their management room,
// with what to do about it. The login alerts once per problem until the connection is back.
func (r waRouter) Alert(_ context.Context, alert whatsapp.Alert) {
	if len(r.user.Accounts()) > 1 {
		// Say which of the user's accounts has the problem.
		r.user.notify(fmt.Sprintf("WhatsApp +%s: %s", r.user.Phone(), alertText(alert)))
		return
	}
	r.user.notify(alertText(alert))
}

// alertText is the management-room notice for a connection problem.
func alertText(alert whatsapp.Alert) string {
	switch alert.Kind {
	case whatsapp.AlertStreamReplaced:
		return "Another client took over this bridge's WhatsApp session (the same session connected from somewhere else), so the bridge was disconnected. It will not reconnect by itself; send `reconnect` to take the connection back."
	case whatsapp.AlertTemporaryBan:
		if alert.Until.IsZero() {
			return fmt.Sprintf("WhatsApp has temporarily banned your account (%s). The bridge stays disconnected; send `reconnect` once the ban is over.", alert.Detail)
		}
		return fmt.Sprintf("WhatsApp has temporarily banned your account until %s (%s). The bridge stays disconnected until then and reconnects by itself when the ban ends. Your messages are kept.", alert.Until.UTC().Format("2006-01-02 15:04:05 UTC"), alert.Detail)
	case whatsapp.AlertClientOutdated:
		return "WhatsApp refuses this bridge version as outdated. Please update the bridge; it will not reconnect until it is updated and restarted (or you send `reconnect`)."
	case whatsapp.AlertConnectFailure:
		return fmt.Sprintf("WhatsApp refused the connection (%s). The bridge will not retry by itself; send `reconnect` to try again.", alert.Detail)
	}
	return fmt.Sprintf("WhatsApp connection problem: %s", alert.Detail)
}

// notify posts a notice in the user's management room, if there is one.
func (user *Account) notify(markdown string) {
	room := user.ManagementRoom()
	if room == "" {
		user.log.Debug().Str("notice", markdown).Msg("No management room for notice")
		return
	}
	user.br.sendBotNotice(user.log.WithContext(user.br.ctx), room, markdown)
}
