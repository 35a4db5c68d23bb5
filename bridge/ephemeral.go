package bridge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// handleEphemeral takes typing notifications, read receipts and presence from a transaction. They
// are best effort by nature (the homeserver sends them once, and a stale one is worthless), so they
// are not stored; they are handled in the background so the homeserver gets its answer at once.
func (br *Bridge) handleEphemeral(log zerolog.Logger, raws []json.RawMessage) {
	if len(raws) == 0 {
		return
	}
	var evts []*event.Event
	for _, raw := range raws {
		var evt event.Event
		if err := json.Unmarshal(raw, &evt); err != nil {
			log.Debug().Err(err).Msg("Ignoring malformed ephemeral event")
			continue
		}
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			log.Debug().Err(err).Str("type", evt.Type.Type).Msg("Ignoring ephemeral event that cannot be parsed")
			continue
		}
		evts = append(evts, &evt)
	}
	br.spawn(func() {
		ctx := log.WithContext(br.ctx)
		for _, evt := range evts {
			switch evt.Type {
			case event.EphemeralEventReceipt:
				br.handleReceipt(ctx, evt)
			case event.EphemeralEventTyping:
				br.handleTyping(ctx, evt)
			case event.EphemeralEventPresence:
				br.handleMatrixPresence(ctx, evt) // presence_own.go
			}
		}
	})
}

func (br *Bridge) handleReceipt(ctx context.Context, evt *event.Event) {
	for eventID, receipts := range *evt.Content.AsReceipt() {
		for _, userReceipts := range []map[id.UserID]event.ReadReceipt{receipts[event.ReceiptTypeRead], receipts[event.ReceiptTypeReadPrivate]} {
			for userID, receipt := range userReceipts {
				if br.isBridgeUser(userID) {
					continue
				}
				if dp := br.doublePuppets; dp != nil && dp.isReceiptEcho(userID, evt.RoomID, eventID) {
					// Set by the bridge as the user (double puppeting), from what the phone read.
					continue
				}
				br.noteMatrixActivity(ctx, userID, portal.ReceiptTime(receipt))
				if err := br.portals.HandleMatrixReceipt(ctx, evt.RoomID, eventID, userID, portal.ReceiptTime(receipt)); err != nil {
					zerolog.Ctx(ctx).Warn().Err(err).Stringer("room_id", evt.RoomID).Stringer("user_mxid", userID).Msg("Failed to bridge read receipt")
				}
			}
		}
	}
}

// handleTyping compares the room's typing users with the previous notification, so that users who
// stopped typing are reported as paused on WhatsApp.
func (br *Bridge) handleTyping(ctx context.Context, evt *event.Event) {
	now := make(map[id.UserID]bool)
	for _, userID := range evt.Content.AsTyping().UserIDs {
		if !br.isBridgeUser(userID) {
			now[userID] = true
		}
	}
	br.typingLock.Lock()
	before := br.typing[evt.RoomID]
	br.typing[evt.RoomID] = now
	br.typingLock.Unlock()
	for userID := range now {
		if !before[userID] {
			br.sendTyping(ctx, evt.RoomID, userID, true)
		}
	}
	for userID := range before {
		if !now[userID] {
			br.sendTyping(ctx, evt.RoomID, userID, false)
		}
	}
}

func (br *Bridge) sendTyping(ctx context.Context, roomID id.RoomID, userID id.UserID, typing bool) {
	// Typing is activity, and WhatsApp passes it on only from an available client: announce first.
	br.noteMatrixActivity(ctx, userID, time.Now())
	if err := br.portals.HandleMatrixTyping(ctx, roomID, userID, typing); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Stringer("room_id", roomID).Stringer("user_mxid", userID).Msg("Failed to bridge typing notification")
	}
}
