package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
)

// LeaseEndingClient is a whatsmeow client whose sends end the Signal session leases they leave
// (sessionlock.EndSend): a send loads the session of every device it encrypts for and stores only
// those it advanced, so without this a device it could not encrypt for, or every device of a send
// that failed half-way, would keep its lease until sessionlock.LeaseTimeout and hold up the
// decryption of that device's next message. Every send of the bridge goes through one.
type LeaseEndingClient struct {
	*whatsmeow.Client
}

// SendMessage is whatsmeow's Client.SendMessage, ending the send's leases when it returns.
func (c LeaseEndingClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	defer sessionlock.EndSend(c.Store)
	return c.Client.SendMessage(ctx, to, msg, extra...)
}

// SendPeerMessage is whatsmeow's Client.SendPeerMessage (a message to the account's own phone),
// ending the send's leases when it returns.
func (c LeaseEndingClient) SendPeerMessage(ctx context.Context, msg *waE2E.Message) (whatsmeow.SendResponse, error) {
	defer sessionlock.EndSend(c.Store)
	return c.Client.SendPeerMessage(ctx, msg)
}
