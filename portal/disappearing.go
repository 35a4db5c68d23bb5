package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/jsontime"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// A chat's disappearing-messages timer is shown in its room as com.beeper.disappearing_timer state
// (after_send, in milliseconds; empty when off) and a notice at each change. Messages sent from
// Matrix into the chat carry the timer (msgconv.WithExpiration), so WhatsApp's apps delete them
// like their own; the Matrix copies are redacted when they expire (expiry.go).

// disappearingEvent asks to change the chat's timer from Matrix, as login; cause is the Matrix
// event that asked (the command), which names the notice's transaction.
type disappearingEvent struct {
	login Login
	timer time.Duration
	cause id.EventID
}

func (*disappearingEvent) kind() string { return "set disappearing timer" }

// ErrNotAPortal means a room is not bridged to a WhatsApp chat.
var ErrNotAPortal = errors.New("this room is not bridged to a WhatsApp chat")

// ErrTimerUnchanged means the chat's disappearing-messages timer already is the one asked for;
// nothing was sent to WhatsApp.
var ErrTimerUnchanged = errors.New("the chat already has that disappearing-messages timer")

// SetDisappearingTimer changes the disappearing-messages timer of the chat bridged to roomID on
// WhatsApp, as userID, and shows the change in the room; cause is the Matrix event that asked. It
// fails with ErrNotAPortal, ErrNotLoggedIn, ErrTimerUnchanged, ErrNotConnected, or WhatsApp's
// refusal.
func (m *Manager) SetDisappearingTimer(ctx context.Context, roomID id.RoomID, userID id.UserID, timer time.Duration, cause id.EventID) error {
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil {
		return err
	} else if p == nil {
		return ErrNotAPortal
	}
	login := m.users.LoginByMXID(ctx, userID, p.Key)
	if login == nil || login.OwnJID().IsEmpty() {
		return ErrNotLoggedIn
	}
	return p.run(ctx, &disappearingEvent{login: login, timer: timer, cause: cause})
}

func (p *Portal) handleSetDisappearing(ctx context.Context, evt *disappearingEvent) error {
	if evt.timer.Truncate(time.Second) == p.row.DisappearTimer {
		return ErrTimerUnchanged
	}
	cli := evt.login.Client()
	if cli == nil || !cli.IsLoggedIn() {
		return ErrNotConnected
	}
	if err := cli.SetDisappearingTimer(ctx, p.Key.JID, evt.timer, time.Now()); err != nil {
		return fmt.Errorf("WhatsApp refused the timer: %w", err)
	}
	return p.applyDisappearing(ctx, p.m.matrix.BotMXID(), evt.timer, time.Now().UnixMilli(), "mw.disappear."+evt.cause.String())
}

// applyDisappearing records the chat's new timer, sets the room's state and posts the notice as
// actor. A timer equal to the stored one changes nothing, so repeated reports are harmless.
func (p *Portal) applyDisappearing(ctx context.Context, actor id.UserID, timer time.Duration, ts int64, txnID string) error {
	timer = timer.Truncate(time.Second)
	if timer == p.row.DisappearTimer {
		return nil
	}
	p.row.DisappearTimer = timer
	if err := p.m.db.Portal.Update(ctx, p.row); err != nil {
		return fmt.Errorf("failed to store disappearing timer: %w", err)
	}
	if p.row.MXID == "" {
		return nil
	}
	state := &event.BeeperDisappearingTimer{}
	if timer > 0 {
		state.Type, state.Timer = event.DisappearingTypeAfterSend, jsontime.MS(timer)
	}
	if err := p.sendState(ctx, p.m.matrix.BotMXID(), event.StateBeeperDisappearingTimer, state, ts); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set disappearing timer state")
	}
	notice := &event.MessageEventContent{MsgType: event.MsgNotice, Body: msgconv.DisappearingNotice(timer)}
	if _, err := p.m.matrix.SendEvent(ctx, actor, p.row.MXID, event.EventMessage, notice, ts, txnID); err != nil {
		return fmt.Errorf("failed to send disappearing timer notice: %w", err)
	}
	zerolog.Ctx(ctx).Info().Dur("timer", timer).Msg("Disappearing timer changed")
	return nil
}
