package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// End-to-bridge encryption, as the bridge sees it. The device itself (keys, sessions, sharing)
// is the encryption package, present only in binaries built with the goolm tag (crypto_goolm.go);
// without it encryption.allow is refused at start (crypto_off.go).
//
// Matrix -> WhatsApp: an m.room.encrypted event in the inbox is decrypted before it is routed
// like any other event. When its room key has not arrived, the worker waits up to decryptWait
// (keys come through the bot's /sync, the event through a transaction, so they race), then tells
// the room and records the event in matrix_undecryptable; when the key arrives later the inbox
// row is set pending again and the message is bridged after all.
//
// WhatsApp -> Matrix: the appservice clients encrypt what they send in encrypted rooms (the
// helper is their mautrix.CryptoHelper); attachments there are uploaded as encrypted files.

// bridgeCrypto is the bridge bot's encryption device.
type bridgeCrypto interface {
	mautrix.CryptoHelper
	// Client is the bot's client with its device's access token, for the bot's /sync.
	Client() *mautrix.Client
	// ProcessSync takes to-device events, device list changes and one-time key counts.
	ProcessSync(ctx context.Context, resp *mautrix.RespSync, since string)
	// HandleState takes member and encryption state events of any sender.
	HandleState(ctx context.Context, evt *event.Event)
	// IsEncrypted reports whether the bridge encrypts in roomID.
	IsEncrypted(ctx context.Context, roomID id.RoomID) bool
}

// decryptWait is how long an event whose room key is missing waits for it before the room is told.
const decryptWait = 10 * time.Second

// trackState passes member and encryption state events to the encryption device, and tells users
// who enable encryption in a portal of a bridge that cannot decrypt.
func (br *Bridge) trackState(ctx context.Context, evt *event.Event) {
	if evt.Type != event.StateMember && evt.Type != event.StateEncryption {
		return
	}
	if br.crypto != nil {
		wasEncrypted := evt.Type == event.StateEncryption && br.crypto.IsEncrypted(ctx, evt.RoomID)
		br.crypto.HandleState(ctx, evt)
		if evt.Type == event.StateEncryption && !wasEncrypted && !br.isBridgeUser(evt.Sender) && br.isPortalRoom(ctx, evt.RoomID) {
			br.sendBotNoticeTxn(ctx, evt.RoomID, "enc-"+evt.ID.String(),
				"Encryption is on: messages from WhatsApp are encrypted in this room from now on.")
		}
		return
	}
	if evt.Type == event.StateEncryption && !br.isBridgeUser(evt.Sender) && br.isPortalRoom(ctx, evt.RoomID) {
		br.sendBotNoticeTxn(ctx, evt.RoomID, "noenc-"+evt.ID.String(),
			"This bridge does not support encryption: messages sent in this room from now on cannot be bridged to WhatsApp.")
	}
}

// isPortalRoom reports whether roomID is a portal (false on errors).
func (br *Bridge) isPortalRoom(ctx context.Context, roomID id.RoomID) bool {
	p, err := br.portals.GetByMXID(ctx, roomID)
	return err == nil && p != nil
}

// handleEncrypted decrypts an m.room.encrypted event from the inbox and routes what it contained.
// It returns an error only for a retry (database failures); an event that cannot be decrypted is
// handled by telling the room.
func (br *Bridge) handleEncrypted(ctx context.Context, evt *event.Event) error {
	if br.isBridgeUser(evt.Sender) {
		return nil
	}
	log := zerolog.Ctx(ctx)
	if br.crypto == nil {
		if br.isPortalRoom(ctx, evt.RoomID) {
			br.sendBotNoticeTxn(ctx, evt.RoomID, "undecryptable-"+evt.ID.String(),
				"Your message was not bridged: this bridge does not support encryption.")
		}
		return nil
	}
	content := evt.Content.AsEncrypted()
	decrypted, err := br.crypto.Decrypt(ctx, evt)
	if isMissingKeys(err) {
		log.Debug().Stringer("session_id", content.SessionID).Msg("Waiting for the room key of an encrypted event")
		// Room keys come only through the bot's sync, which polls seldom while the rooms are busy.
		br.wantBotSync() // botsync.go
		if br.crypto.WaitForSession(ctx, evt.RoomID, content.SenderKey, content.SessionID, decryptWait) {
			decrypted, err = br.crypto.Decrypt(ctx, evt)
		}
	}
	if err != nil {
		return br.undecryptable(ctx, evt, content, err)
	}
	if notice, err := br.DB.Undecryptable.Resolve(ctx, evt.ID); err != nil {
		return fmt.Errorf("failed to clear undecryptable mark: %w", err)
	} else if notice != "" {
		if _, err = br.AS.BotIntent().RedactEvent(ctx, evt.RoomID, notice); err != nil {
			log.Warn().Err(err).Msg("Failed to redact the decryption failure notice")
		}
	}
	// Route the plaintext exactly as an unencrypted event: its content goes through the same
	// parsing (and malformed-content handling) as a transaction's.
	plain := *decrypted
	plain.Content = event.Content{}
	if err = json.Unmarshal(decrypted.Content.VeryRaw, &plain.Content); err != nil {
		return br.undecryptable(ctx, evt, content, fmt.Errorf("decrypted content is not JSON: %w", err))
	}
	plain.Mautrix.WasEncrypted = true
	log.Debug().Str("decrypted_type", plain.Type.Type).Msg("Decrypted Matrix event")
	return br.routeEvent(ctx, &plain)
}

// undecryptable tells the room that evt could not be decrypted and why. When the room key is only
// missing, the sender's devices are asked for it and the event is recorded, so it is bridged when
// the key arrives.
func (br *Bridge) undecryptable(ctx context.Context, evt *event.Event, content *event.EncryptedEventContent, cause error) error {
	log := zerolog.Ctx(ctx)
	log.Warn().Err(cause).Stringer("session_id", content.SessionID).Msg("Failed to decrypt Matrix event")
	if !isMissingKeys(cause) {
		br.sendBotNoticeTxn(ctx, evt.RoomID, "undecryptable-"+evt.ID.String(),
			fmt.Sprintf("Your message could not be decrypted and was not bridged: %v", cause))
		return nil
	}
	// Every device of the sender is asked: the event's device_id is deprecated and often absent.
	br.crypto.RequestSession(ctx, evt.RoomID, content.SenderKey, content.SessionID, evt.Sender, "")
	notice := br.sendBotNoticeID(ctx, evt.RoomID, "undecryptable-"+evt.ID.String(),
		"Your message could not be decrypted yet: the bridge has not received its key. It will be bridged as soon as the key arrives.")
	if err := br.DB.Undecryptable.Put(ctx, evt.ID, evt.RoomID, content.SessionID, notice); err != nil {
		return fmt.Errorf("failed to record undecryptable event: %w", err)
	}
	return nil
}

// sessionReceived is called when a room key arrives: the events that waited for it go back into
// the inbox.
func (br *Bridge) sessionReceived(ctx context.Context, roomID id.RoomID, sessionID id.SessionID) {
	stored := br.inboxMemory.storing()
	n, err := br.DB.Undecryptable.Requeue(ctx, roomID, sessionID)
	if n > 0 {
		br.inboxMemory.forget(roomID) // its rows are pending again in the database only
	}
	stored()
	if err != nil {
		br.Log.Err(err).Stringer("room_id", roomID).Stringer("session_id", sessionID).Msg("Failed to requeue events waiting for a room key")
		return
	}
	if n > 0 {
		br.Log.Info().Stringer("room_id", roomID).Stringer("session_id", sessionID).Int64("events", n).
			Msg("Room key arrived; bridging the events that waited for it")
		br.wakeInbox()
	}
}

// refuseUnencrypted implements encryption.require: a message sent unencrypted in a portal is not
// bridged and the sender is told. It reports whether evt was refused.
func (br *Bridge) refuseUnencrypted(ctx context.Context, evt *event.Event) bool {
	if !br.Config.Encryption.Require || evt.Mautrix.WasEncrypted || br.isBridgeUser(evt.Sender) ||
		(evt.Type != event.EventMessage && evt.Type != event.EventSticker) || !br.isPortalRoom(ctx, evt.RoomID) {
		return false
	}
	if evt.Type == event.EventMessage && strings.HasPrefix(strings.TrimSpace(evt.Content.AsMessage().Body), br.Config.Bridge.CommandPrefix) {
		return false // commands stay possible; they are never bridged
	}
	br.sendBotNoticeTxn(ctx, evt.RoomID, "unencrypted-"+evt.ID.String(),
		"Your message was not bridged: this bridge only bridges encrypted messages. Enable encryption in this room.")
	return true
}
