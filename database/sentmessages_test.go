package database_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestPruneSentMessages: the sent messages whatsmeow keeps for retry receipts are deleted after
// the window, the fresh ones stay readable, and a window of 0 deletes them all.
func TestPruneSentMessages(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *database.Database) {
		ctx := context.Background()
		container := db.WhatsmeowContainer()
		dev := container.NewDevice()
		own := types.NewADJID("4915100000001", 0, 7)
		dev.ID = &own
		dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{1}, AccountSignature: make([]byte, 64), AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
		must(t, container.PutDevice(ctx, dev))
		chat := types.NewJID("4917600000002", types.DefaultUserServer)
		must(t, dev.EventBuffer.AddOutgoingEvent(ctx, chat, "OLD", "wa", []byte{0x0a, 0x01, 'x'}))
		must(t, dev.EventBuffer.AddOutgoingEvent(ctx, chat, "FRESH", "wa", []byte{0x0a, 0x01, 'y'}))
		_, err := db.DB.Exec(ctx, `UPDATE whatsmeow_retry_buffer SET timestamp=$1 WHERE message_id='OLD'`,
			time.Now().Add(-48*time.Hour).UnixMilli())
		must(t, err)

		n, err := db.PruneSentMessages(ctx, 24*time.Hour)
		must(t, err)
		if n != 1 {
			t.Fatalf("PruneSentMessages(24h) deleted %d messages, want the one sent two days ago", n)
		}
		format, plaintext, err := dev.EventBuffer.GetOutgoingEvent(ctx, chat, types.EmptyJID, "FRESH")
		if err != nil || format != "wa" || string(plaintext) != "\x0a\x01y" {
			t.Fatalf("the fresh message is not readable after pruning: %q %q %v", format, plaintext, err)
		}
		n, err = db.PruneSentMessages(ctx, 0)
		must(t, err)
		if n != 1 {
			t.Fatalf("PruneSentMessages(0) deleted %d messages, want the remaining one", n)
		}
	})
}
