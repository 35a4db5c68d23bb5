package whatsapp

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// TestSentMessagesArePrunedByTheOwner: with KeepSentMessages, a client's sends do not delete the
// kept messages (whatsmeow would, with a DELETE statement per send), for a device that was saved
// before the client was made and for one saved while pairing; the owner's pruning decides.
func TestSentMessagesArePrunedByTheOwner(t *testing.T) {
	ctx := context.Background()
	container, raw := testStore(t)
	login := NewLogin(Options{Background: ctx, Log: zerolog.Nop(), Handler: &fakeHandler{}, KeepSentMessages: true})
	saved := container.NewDevice()
	saveTestDevice(t, saved, "4915100000001")
	login.newClient(saved)
	pairing := container.NewDevice()
	login.newClient(pairing) // as pair.go does: the device is saved once pairing succeeds
	saveTestDevice(t, pairing, "4915100000002")

	chat := types.NewJID("4917600000009", types.DefaultUserServer)
	for name, dev := range map[string]*store.Device{"saved device": saved, "device saved while pairing": pairing} {
		if err := dev.EventBuffer.AddOutgoingEvent(ctx, chat, "OLD", "wa", []byte{0x0a, 0x01, 'x'}); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`UPDATE whatsmeow_retry_buffer SET timestamp=$1 WHERE our_jid=$2`, time.Now().Add(-8*24*time.Hour).UnixMilli(), dev.ID.String()); err != nil {
			t.Fatal(err)
		}
		// What whatsmeow calls after each send with UseRetryMessageStore.
		if err := dev.EventBuffer.DeleteOldOutgoingEvents(ctx); err != nil {
			t.Fatal(err)
		}
		if format, _, err := dev.EventBuffer.GetOutgoingEvent(ctx, chat, types.EmptyJID, "OLD"); err != nil || format != "wa" {
			t.Errorf("%s: the kept message is gone after a send (format %q, err %v); pruning is the owner's", name, format, err)
		}
	}
}
