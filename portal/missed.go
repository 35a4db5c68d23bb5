package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Giving up on undecryptable messages: a placeholder ("Waiting for this message") whose message
// neither the sender nor the phone resent within the bridge's wait is redacted, and the room gets
// one notice saying how many messages from when could not be brought over. Should the message
// still arrive later, it is bridged as a new message (its placeholder row is gone).

// giveUpEvent asks a portal to give up on its placeholders posted before before.
type giveUpEvent struct {
	before time.Time
	given  *int
}

func (*giveUpEvent) kind() string { return "give up placeholders" }

// GiveUpPlaceholders gives up on every placeholder posted before before, portal by portal, and
// returns how many it gave up on.
func (m *Manager) GiveUpPlaceholders(ctx context.Context, before time.Time) (int, error) {
	rows, err := m.db.Placeholder.GetBefore(ctx, before)
	if err != nil {
		return 0, err
	}
	total := 0
	seen := map[database.PortalKey]bool{}
	for _, ph := range rows {
		if seen[ph.Portal] {
			continue
		}
		seen[ph.Portal] = true
		p, err := m.getExisting(ctx, ph.Portal)
		if err != nil || p == nil {
			continue
		}
		n := 0
		if err = p.run(ctx, &giveUpEvent{before: before, given: &n}); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (p *Portal) handleGiveUp(ctx context.Context, evt *giveUpEvent) error {
	rows, err := p.m.db.Placeholder.GetBefore(ctx, evt.before)
	if err != nil {
		return err
	}
	var mine []*database.Placeholder
	for _, ph := range rows {
		if ph.Portal == p.Key {
			mine = append(mine, ph)
		}
	}
	if len(mine) == 0 || p.row.MXID == "" {
		return nil
	}
	bot := p.m.matrix.BotMXID()
	first, last := mine[0].Timestamp.UTC(), mine[len(mine)-1].Timestamp.UTC()
	what := "1 message"
	if len(mine) > 1 {
		what = fmt.Sprintf("%d messages", len(mine))
	}
	text := fmt.Sprintf("%s of this chat from %s to %s could not be brought over: WhatsApp could not decrypt them here, "+
		"and neither your phone nor the sender sent them again. Open WhatsApp on your phone to read them.",
		what, first.Format("2006-01-02 15:04"), last.Format("2006-01-02 15:04 MST"))
	// Redactions first, then the notice, then the rows: each step deduplicates on its
	// transaction ID, so a retry after a failure in between repeats nothing visible.
	for _, ph := range mine {
		if err = p.m.matrix.Redact(ctx, bot, p.row.MXID, ph.MXID, "mw.placeholder.giveup."+ph.MXID.String()); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("placeholder_id", ph.MXID).Msg("Failed to redact placeholder given up on")
		}
	}
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: text}
	txnID := fmt.Sprintf("mw.gap.undecryptable.%s.%s.%s", p.Key.JID.User, p.Key.Receiver.User, mine[0].WAID)
	if _, err = p.m.matrix.SendEvent(ctx, bot, p.row.MXID, event.EventMessage, content, 0, txnID); err != nil {
		return fmt.Errorf("failed to report undecryptable messages: %w", err)
	}
	for _, ph := range mine {
		if err = p.m.db.Placeholder.Delete(ctx, p.Key, ph.WAID); err != nil {
			return err
		}
	}
	*evt.given = len(mine)
	zerolog.Ctx(ctx).Info().Int("messages", len(mine)).Msg("Gave up on undecryptable messages")
	return nil
}
