package portal

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Receipts and typing notifications are state, not history: a late one is worthless and a lost one
// is replaced by the next. They bypass the portal queue, so they must not touch the portal's row:
// they read the message map and the room ID (Portal.MXID) only.

// typingTimeout is how long a WhatsApp "composing" shows as typing in Matrix unless renewed.
const typingTimeout = 15 * time.Second

// ShowsReceipt reports whether a WhatsApp receipt that login's connection received changes what
// Matrix shows: read receipts do (the reader's read marker moves), the user's own ones (read on
// the phone) only through double puppeting, where the user's own ghost stands for the user's real
// account. Delivery, played, retry and other receipts show nothing, so they are not kept either.
func ShowsReceipt(login Login, evt *events.Receipt) bool {
	if len(evt.MessageIDs) == 0 || (evt.Type != types.ReceiptTypeRead && evt.Type != types.ReceiptTypeReadSelf) {
		return false
	}
	return !evt.IsFromMe || login.DoublePuppeted()
}

// HandleWhatsAppReceipt shows a contact's read receipt in Matrix as the ghost's read marker, at the
// last of the receipt's messages (in the receipt's order) that is in the room.
func (m *Manager) HandleWhatsAppReceipt(ctx context.Context, login Login, evt *events.Receipt) error {
	if !ShowsReceipt(login, evt) {
		return nil
	}
	p, err := m.existingPortal(ctx, login, evt.Chat)
	if err != nil || p == nil {
		return err
	}
	var last id.EventID
	for i := len(evt.MessageIDs) - 1; i >= 0 && last == ""; i-- {
		parts, err := m.db.Message.GetByWAID(ctx, p.Key, evt.MessageIDs[i])
		if err != nil {
			return err
		}
		if len(parts) > 0 {
			last = parts[len(parts)-1].MXID
		}
	}
	if last == "" {
		return nil
	}
	reader := evt.Sender
	if evt.IsFromMe {
		reader = login.OwnJID()
	}
	ghost, err := m.puppets.Get(ctx, reader, login.LIDs())
	if err != nil {
		return err
	}
	roomID := p.MXID()
	if err = m.ensureGhostJoined(ctx, roomID, ghost); err != nil {
		return err
	}
	if err = m.matrix.MarkRead(ctx, ghost.MXID, roomID, last); err != nil {
		return fmt.Errorf("failed to send read receipt: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Stringer("event_id", last).Stringer("ghost", ghost.MXID).Msg("Bridged WhatsApp read receipt")
	return nil
}

// HandleWhatsAppChatPresence shows a contact typing in Matrix.
func (m *Manager) HandleWhatsAppChatPresence(ctx context.Context, login Login, evt *events.ChatPresence) error {
	if evt.IsFromMe {
		return nil
	}
	p, err := m.existingPortal(ctx, login, evt.Chat)
	if err != nil || p == nil {
		return err
	}
	ghost, err := m.puppets.Get(ctx, evt.Sender, login.LIDs())
	if err != nil {
		return err
	}
	roomID := p.MXID()
	if err = m.ensureGhostJoined(ctx, roomID, ghost); err != nil {
		return err
	}
	typing := evt.State == types.ChatPresenceComposing
	if err = m.matrix.SetTyping(ctx, ghost.MXID, roomID, typing, typingTimeout); err != nil {
		return fmt.Errorf("failed to send typing notification: %w", err)
	}
	return nil
}

// existingPortal returns the portal of a chat if it has a room, else nil: receipts and typing never
// create rooms, nor portal rows.
func (m *Manager) existingPortal(ctx context.Context, login Login, chat types.JID) (*Portal, error) {
	key, err := m.KeyFor(ctx, login, chat)
	if err != nil {
		return nil, err
	}
	p, err := m.getExisting(ctx, key)
	if err != nil || p == nil || p.MXID() == "" {
		return nil, err
	}
	return p, nil
}

// HandleMatrixReceipt marks messages as read on WhatsApp when a bridge user reads them in Matrix.
func (m *Manager) HandleMatrixReceipt(ctx context.Context, roomID id.RoomID, eventID id.EventID, userID id.UserID, ts time.Time) error {
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil || p == nil || p.IsStatus() {
		return err
	}
	login := m.users.LoginByMXID(ctx, userID, p.Key)
	if login == nil {
		return nil
	}
	cli := login.Client()
	if cli == nil {
		return nil
	}
	msg, err := m.receiptTarget(ctx, eventID)
	if err != nil || msg == nil {
		return err
	}
	if msg.Sender.ToNonAD() == login.OwnJID() {
		return nil
	}
	sender := msg.Sender
	if !p.IsGroup() {
		sender = types.EmptyJID
	}
	if err = cli.MarkRead(ctx, []types.MessageID{msg.WAID}, ts, p.Key.JID, sender); err != nil {
		return fmt.Errorf("failed to mark message read on WhatsApp: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Str("wa_message_id", msg.WAID).Msg("Bridged Matrix read receipt")
	return nil
}

// receiptWaits are the pauses between the look-ups of a read receipt's message (about 3 s in all).
var receiptWaits = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}

// receiptTarget returns the bridged message a Matrix event ID stands for, or nil when there is
// none. A client may read a message as soon as the homeserver shows it, before the bridge has its
// answer to the send or has recorded the message (portal.Settlement): when the event is not
// mapped, it is looked up again after each of receiptWaits, so that such a receipt is not lost.
func (m *Manager) receiptTarget(ctx context.Context, eventID id.EventID) (*database.Message, error) {
	for i := 0; ; i++ {
		msg, err := m.db.Message.GetByMXID(ctx, eventID)
		if err != nil || msg != nil || i == len(receiptWaits) {
			return msg, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(receiptWaits[i]):
		}
	}
}

// HandleMatrixTyping tells WhatsApp whether a bridge user is typing in a portal.
func (m *Manager) HandleMatrixTyping(ctx context.Context, roomID id.RoomID, userID id.UserID, typing bool) error {
	p, err := m.GetByMXID(ctx, roomID)
	if err != nil || p == nil || p.IsStatus() {
		return err
	}
	login := m.users.LoginByMXID(ctx, userID, p.Key)
	if login == nil || login.Client() == nil {
		return nil
	}
	state := types.ChatPresencePaused
	if typing {
		state = types.ChatPresenceComposing
	}
	if err = login.Client().SendChatPresence(ctx, p.Key.JID, state, types.ChatPresenceMediaText); err != nil {
		return fmt.Errorf("failed to send chat presence: %w", err)
	}
	return nil
}

// ReceiptTime turns a Matrix receipt's timestamp (ms) into a time, defaulting to now.
func ReceiptTime(receipt event.ReadReceipt) time.Time {
	if receipt.Timestamp.IsZero() {
		return time.Now()
	}
	return receipt.Timestamp
}

// RoomOf returns the Matrix room of an existing portal, or "" when the portal or its room does not
// exist. It never creates a portal.
func (m *Manager) RoomOf(ctx context.Context, key database.PortalKey) (id.RoomID, error) {
	p, err := m.getExisting(ctx, key)
	if err != nil || p == nil {
		return "", err
	}
	return p.MXID(), nil
}
