package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// The user's own presence (bridge.presence.own). WhatsApp learns a client's push name only from its
// presence announcements, and until one arrives on a connection the client's messages reach
// contacts without a name (whatsmeow SendPresence). So after every connect, and whenever the
// user's push name changes, the bridge announces the user, as unavailable unless the user counts
// as active. Like WhatsApp Web in a background tab (and like mautrix-whatsapp, which announces
// "unavailable" after connecting and "available" only while the user looks at a chat), the bridge
// is available only while the user is active in Matrix: the user sends, types or reads in a room
// the bridge sees, or the homeserver reports them online (m.presence); it turns unavailable again
// after bridge.presence.idle_seconds without activity, or when the homeserver reports them
// offline. Availability matters beyond the green dot: WhatsApp exchanges typing notifications only
// between available clients, and the phone apps render delivery receipts only from available ones
// (whatsmeow sends type="inactive" receipts otherwise).

// ownPresence is what the bridge announced for a user on the current connection.
type ownPresence struct {
	lock sync.Mutex
	// announced is set once something was announced on the current connection; available and
	// name are what was announced last.
	announced bool
	available bool
	name      string
	// activeUntil is when the user's latest Matrix activity stops counting; onlineInMatrix is
	// the homeserver's last word on the user's presence.
	activeUntil    time.Time
	onlineInMatrix bool
	idleTimer      *time.Timer
}

// wantAvailableLocked is whether the user should be available now. Caller holds lock.
func (op *ownPresence) wantAvailableLocked(mode string, now time.Time) bool {
	switch mode {
	case config.OwnAlways:
		return true
	case config.OwnNever:
		return false
	default:
		return op.onlineInMatrix || now.Before(op.activeUntil)
	}
}

// announcePresence tells WhatsApp the user's presence and name if either changed since the last
// announcement on this connection (or always, with force, right after connecting).
func (user *Account) announcePresence(ctx context.Context, force bool) {
	op := &user.presence
	op.lock.Lock()
	defer op.lock.Unlock()
	name := user.OwnPushName()
	available := op.wantAvailableLocked(user.br.Config.Bridge.Presence.Own, time.Now())
	if !force && op.announced && op.available == available && op.name == name {
		return
	}
	log := zerolog.Ctx(ctx)
	if err := user.wa.AnnouncePresence(ctx, available, name); err != nil {
		if errors.Is(err, whatsapp.ErrNoPushName) {
			log.Debug().Msg("WhatsApp push name not known yet; presence is announced once app state brings it")
		} else {
			log.Debug().Err(err).Msg("Failed to announce presence on WhatsApp")
		}
		op.announced = false
		return
	}
	op.announced, op.available, op.name = true, available, name
	log.Debug().Bool("available", available).Msg("Announced presence on WhatsApp")
}

// presenceConnected announces the user after a (re)connect: WhatsApp forgets a client's
// announcement with its connection.
func (user *Account) presenceConnected(ctx context.Context) {
	user.presence.lock.Lock()
	user.presence.announced = false
	user.presence.lock.Unlock()
	user.announcePresence(ctx, true)
}

// noteMatrixActivity records that the user did something in Matrix at the given time: under
// bridge.presence.own "active" they are available until idle_seconds after it. Activity older
// than that (an event handled late, after an outage) changes nothing.
func (user *Account) noteMatrixActivity(ctx context.Context, at time.Time) {
	pc := user.br.Config.Bridge.Presence
	if pc.Own != config.OwnActive || user.wa.ConnectedClient() == nil {
		return
	}
	until := at.Add(time.Duration(pc.IdleSeconds) * time.Second)
	wait := time.Until(until)
	if wait <= 0 {
		return
	}
	op := &user.presence
	op.lock.Lock()
	if until.After(op.activeUntil) {
		op.activeUntil = until
		if op.idleTimer != nil {
			op.idleTimer.Stop()
		}
		// Re-announced (as unavailable, unless still active) when the activity stops counting.
		op.idleTimer = time.AfterFunc(wait, func() {
			user.br.spawn(func() { user.announcePresence(user.log.WithContext(user.br.ctx), false) })
		})
	}
	op.lock.Unlock()
	user.announcePresence(ctx, false)
}

// setMatrixPresence follows the user's presence as the homeserver reports it: "online" makes them
// available; "unavailable" or "offline" ends their activity at once.
func (user *Account) setMatrixPresence(ctx context.Context, presence event.Presence) {
	if user.br.Config.Bridge.Presence.Own != config.OwnActive || user.wa.ConnectedClient() == nil {
		return
	}
	op := &user.presence
	op.lock.Lock()
	op.onlineInMatrix = presence == event.PresenceOnline
	if !op.onlineInMatrix {
		op.activeUntil = time.Time{}
	}
	op.lock.Unlock()
	user.announcePresence(ctx, false)
}

// stopPresence ends the idle timer (the user logged out or the bridge stops).
func (user *Account) stopPresence() {
	user.presence.lock.Lock()
	defer user.presence.lock.Unlock()
	if user.presence.idleTimer != nil {
		user.presence.idleTimer.Stop()
		user.presence.idleTimer = nil
	}
	user.presence.activeUntil = time.Time{}
	user.presence.onlineInMatrix = false
}

// activeUser is the bridge user mxid if it is loaded (every user with a login is), else nil; it
// never creates one.
func (br *Bridge) activeUser(mxid id.UserID) *User {
	br.usersLock.Lock()
	defer br.usersLock.Unlock()
	return br.users[mxid]
}

// noteMatrixActivity records activity of the Matrix user mxid, if it is a bridge user.
func (br *Bridge) noteMatrixActivity(ctx context.Context, mxid id.UserID, at time.Time) {
	if user := br.activeUser(mxid); user != nil {
		for _, acct := range user.Accounts() {
			acct.noteMatrixActivity(ctx, at)
		}
	}
}

// handleMatrixPresence follows an m.presence event (pushed by homeservers that send ephemeral
// events to appservices) of a bridge user.
func (br *Bridge) handleMatrixPresence(ctx context.Context, evt *event.Event) {
	if user := br.activeUser(evt.Sender); user != nil {
		for _, acct := range user.Accounts() {
			acct.setMatrixPresence(ctx, evt.Content.AsPresence().Presence)
		}
	}
}
