package whatsapp

import (
	"context"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/wasend"
)

// LeaseEndingClient is a whatsmeow client whose sends are marked for internal/sessionlock
// (BeginSend, EndSend): while a send runs, the Signal session leases it took outlive the lease
// timeout (a send may wait up to whatsmeow's 75-second request timeout for prekey bundles, and a
// decryption going ahead meanwhile would lose its ratchet step to the send's store); when it
// returns, the leases of devices it loaded but did not advance end at once instead of holding up
// the decryption of those devices' next messages. Its sends return when their context ends
// without cancelling whatsmeow's, which could crash the process (internal/wasend). Every send of
// the bridge goes through one.
type LeaseEndingClient struct {
	*whatsmeow.Client
}

// SendMessage is whatsmeow's Client.SendMessage through wasend.Message.
func (c LeaseEndingClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	return wasend.Message(ctx, c.Client, to, msg, extra...)
}

// SendPeerMessage is whatsmeow's Client.SendPeerMessage (a message to the account's own phone)
// through wasend.PeerMessage.
func (c LeaseEndingClient) SendPeerMessage(ctx context.Context, msg *waE2E.Message) (whatsmeow.SendResponse, error) {
	return wasend.PeerMessage(ctx, c.Client, msg)
}
