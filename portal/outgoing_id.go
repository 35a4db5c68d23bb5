package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"
)

// OutgoingMessageID is the WhatsApp message ID of a Matrix event sent by the account own (its
// phone JID): derived from both, so that every attempt to send the event, also after a failure or
// a crash, uses the same ID and WhatsApp and its apps take a repeat for the same message. It has
// the shape of whatsmeow's Client.GenerateMessageID for WhatsApp Web: WebMessageIDPrefix ("3EB0")
// and 18 upper-case hex digits, here the first 9 bytes of SHA-256(own user, 0, event ID).
func OutgoingMessageID(own types.JID, eventID id.EventID) types.MessageID {
	hash := sha256.New()
	hash.Write([]byte(own.User))
	hash.Write([]byte{0})
	hash.Write([]byte(eventID))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(hash.Sum(nil)[:9]))
}

// LoadReservedIDs reads the WhatsApp message IDs that versions before OutgoingMessageID reserved
// in the outbox for Matrix events still pending, so that those events, when retried, go out with
// the ID they may have been sent with already. Call it before Matrix events are handled.
func (m *Manager) LoadReservedIDs(ctx context.Context) error {
	ids, err := m.db.Outbox.PendingIDs(ctx)
	if err != nil {
		return fmt.Errorf("failed to read reserved WhatsApp message IDs: %w", err)
	}
	m.reservedIDs = ids
	if len(ids) > 0 {
		m.log.Info().Int("events", len(ids)).Msg("Matrix events pending with WhatsApp message IDs reserved by an earlier version")
	}
	return nil
}

// outgoingID is the WhatsApp message ID for a Matrix event: the one reserved by an earlier version
// (reserved is then set, and the outbox row is kept up to date), else OutgoingMessageID.
func (m *Manager) outgoingID(login Login, eventID id.EventID) (waID types.MessageID, reserved bool) {
	if waID, ok := m.reservedIDs[eventID]; ok {
		return waID, true
	}
	return OutgoingMessageID(login.OwnJID(), eventID), false
}
