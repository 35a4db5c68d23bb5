//go:build goolm

package bridge

import (
	"context"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/encryption"
)

// cryptoDevice adapts encryption.Helper to bridgeCrypto.
type cryptoDevice struct{ *encryption.Helper }

// IsEncrypted implements bridgeCrypto; a failed lookup counts as unencrypted.
func (c cryptoDevice) IsEncrypted(ctx context.Context, roomID id.RoomID) bool {
	encrypted, _ := c.State.IsEncrypted(ctx, roomID)
	return encrypted
}

// newCrypto creates the bot's encryption device (not yet logged in: Init does that at Start). It
// must run before any intent of the appservice is made.
func newCrypto(br *Bridge) (bridgeCrypto, error) {
	h := encryption.New(encryption.Options{
		Config:       br.Config.Encryption,
		AS:           br.AS,
		DB:           br.DB.TextParamsDB(), // jsonb columns (database.Database.TextParamsDB)
		Log:          br.Log,
		IsBridgeUser: br.isBridgeUser,
		IsMember: func(ctx context.Context, roomID id.RoomID, userID id.UserID) bool {
			return br.AS.StateStore.IsInvited(ctx, roomID, userID) // true for joined members too
		},
		SessionReceived: br.sessionReceived,
		KV:              br.DB.State,
	})
	return cryptoDevice{h}, nil
}

// isMissingKeys reports a decryption failure because the room key has not arrived.
func isMissingKeys(err error) bool {
	return errors.Is(err, encryption.ErrNoSession)
}
