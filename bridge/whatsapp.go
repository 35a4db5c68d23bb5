package bridge

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// waRouter routes the WhatsApp events of one user's login to the portals, the ghosts and the
// user's management room. Its methods run on whatsmeow's event goroutine, see whatsapp.Handler.
type waRouter struct{ user *User }

var _ whatsapp.Handler = waRouter{}

// login is the user's login as the portals see it.
func (r waRouter) login() userLogin { return userLogin(r) }

// HandleMessage implements whatsapp.Handler: it keeps the sender's ghost current and bridges the
// message, retrying while the homeserver is unreachable.
func (r waRouter) HandleMessage(ctx context.Context, evt *events.Message) error {
	br, login := r.user.br, r.login()
	defer br.metrics.WhatsAppReceived()()
	br.syncPushName(ctx, login, evt.Info)
	br.subscribeSenderPresence(ctx, r.user, evt.Info) // presence.go
	err := retryTransient(ctx, "bridge WhatsApp message", func() error {
		return br.portals.HandleWhatsAppMessage(ctx, login, evt)
	})
	if err != nil {
		br.metrics.Failed(metrics.WhatsAppToMatrix, metrics.ReasonNotAcknowledged)
		return fmt.Errorf("failed to bridge message %s in %s: %w", evt.Info.ID, evt.Info.Chat, err)
	}
	return nil
}

// HandleGroupInfo implements whatsapp.Handler.
func (r waRouter) HandleGroupInfo(ctx context.Context, evt *events.GroupInfo) error {
	if err := r.user.br.portals.HandleGroupInfo(ctx, r.login(), evt); err != nil {
		return fmt.Errorf("failed to bridge change of group %s: %w", evt.JID, err)
	}
	return nil
}

// HandleJoinedGroup implements whatsapp.Handler: the group's portal is created at once.
func (r waRouter) HandleJoinedGroup(ctx context.Context, evt *events.JoinedGroup) error {
	if err := r.user.br.portals.EnsureRoom(ctx, r.login(), evt.JID); err != nil {
		return fmt.Errorf("failed to create portal for joined group %s: %w", evt.JID, err)
	}
	return nil
}

// HandleReceipt implements whatsapp.Handler.
func (r waRouter) HandleReceipt(ctx context.Context, evt *events.Receipt) error {
	if err := r.user.br.portals.HandleWhatsAppReceipt(ctx, r.login(), evt); err != nil {
		return fmt.Errorf("failed to bridge receipt in %s: %w", evt.Chat, err)
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

// Connected implements whatsapp.Handler: Matrix messages that waited for the connection go out
// now, and the user's groups get their portals.
func (r waRouter) Connected(context.Context) {
	br, user := r.user.br, r.user
	br.clearPending()
	br.wakeInbox()
	br.spawn(func() {
		br.syncChats(user)
	})
	br.spawn(func() {
		br.subscribeDMPresence(user) // presence.go
	})
}

// LoggedOut implements whatsapp.Handler: the user's login is forgotten and they are told why.
func (r waRouter) LoggedOut(ctx context.Context, reason string) {
	if err := r.user.clearLogin(ctx); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to clear login after logout")
	}
	r.user.notify(fmt.Sprintf("You were logged out of WhatsApp: %s. Send `login` to log in again.", reason))
}

// Alert implements whatsapp.Handler: the user hears about the problem in their management room,
// with what to do about it. The login alerts once per problem until the connection is back.
func (r waRouter) Alert(_ context.Context, alert whatsapp.Alert) {
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
func (user *User) notify(markdown string) {
	room := user.ManagementRoom()
	if room == "" {
		user.log.Debug().Str("notice", markdown).Msg("No management room for notice")
		return
	}
	user.br.sendBotNotice(user.log.WithContext(user.br.ctx), room, markdown)
}
