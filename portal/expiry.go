package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
)

// In a chat with disappearing messages each message disappears from WhatsApp a fixed time after it
// was sent (the timer its context info carries, or that the bridge added to a message from
// Matrix). The bridge records that moment with the message (messages.expires_at) and, when
// bridge.disappearing_redact is on, redacts the Matrix copy then: every part and every edit, as
// the bot. The schedule is in the database, so it survives restarts; a message whose time passed
// while the bridge was down is redacted at start.

// expiryBatch is how many expired messages one check handles.
const expiryBatch = 100

// expireEvent asks to redact the Matrix copy of a message that disappeared from WhatsApp.
type expireEvent struct {
	waID types.MessageID
}

func (*expireEvent) kind() string { return "disappearing message expired" }

// expiresAt is when a message sent at sent with content msg disappears from WhatsApp; zero when it
// does not, or when the bridge does not redact disappearing messages. Status updates disappear
// StatusLifetime after they were posted.
func (p *Portal) expiresAt(sent time.Time, msg *waE2E.Message) time.Time {
	if p.IsStatus() {
		return p.expiresAfter(sent, StatusLifetime) // status.go
	}
	return p.expiresAfter(sent, msgconv.ExpirationOf(msg))
}

// expiresAfter is sent plus timer; zero for no timer or when disappearing messages stay in Matrix.
func (p *Portal) expiresAfter(sent time.Time, timer time.Duration) time.Time {
	if timer <= 0 || sent.IsZero() || !p.m.cfg.Bridge.DisappearingRedactEnabled() {
		return time.Time{}
	}
	return sent.Add(timer)
}

// RunExpiry redacts the Matrix copies of disappearing messages once they expire, checking every
// interval until ctx ends. Failures are logged and tried again at the next check.
func (m *Manager) RunExpiry(ctx context.Context, interval time.Duration) {
	log := m.log.With().Str("component", "expiry").Logger()
	ctx = log.WithContext(ctx)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		m.expireDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// expireDue redacts the messages whose time has come, each in its portal's queue.
func (m *Manager) expireDue(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	due, err := m.db.Message.GetExpired(ctx, time.Now(), expiryBatch)
	if err != nil {
		log.Warn().Err(err).Msg("Failed to read expired messages")
		return
	}
	for _, row := range due {
		p, err := m.Get(ctx, row.Portal)
		if err == nil {
			err = p.run(ctx, &expireEvent{waID: row.WAID})
		}
		if err != nil {
			log.Warn().Err(err).Str("wa_message_id", row.WAID).Msg("Failed to redact disappeared message")
		}
	}
}

// handleExpire redacts every part and edit of a disappeared message as the bot and forgets it.
func (p *Portal) handleExpire(ctx context.Context, waID types.MessageID) error {
	parts, err := p.m.db.Message.GetByWAID(ctx, p.Key, waID)
	if err != nil || len(parts) == 0 {
		return err
	}
	edits, err := p.m.db.Edit.GetByWAID(ctx, p.Key, waID)
	if err != nil {
		return err
	}
	bot := p.m.matrix.BotMXID()
	var targets []*database.Message
	for _, edit := range edits {
		targets = append(targets, &database.Message{MXID: edit.MXID, MXRoom: edit.MXRoom})
	}
	targets = append(targets, parts...)
	for _, target := range targets {
		err := p.m.matrix.Redact(ctx, bot, target.MXRoom, target.MXID, "mw.expire."+target.MXID.String())
		if err != nil && !isRefusedByHomeserver(err) {
			return fmt.Errorf("failed to redact disappeared message: %w", err)
		} else if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("event_id", target.MXID).Msg("Homeserver refused to redact disappeared message")
		}
	}
	if err = p.m.db.Edit.Delete(ctx, p.Key, waID); err != nil {
		return err
	}
	if err = p.m.db.Message.Delete(ctx, p.Key, waID); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Debug().Str("wa_message_id", waID).Int("events", len(targets)).Msg("Redacted disappeared message")
	return nil
}
