package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

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

// SetDisappearingTimer changes a chat's disappearing-messages timer (0: off; WhatsApp counts whole
// seconds), as whatsmeow's Client.SetDisappearingTimer does: in a one-to-one chat (phone number or
// LID) it is a message, a ProtocolMessage of type EPHEMERAL_SETTING with the timer and settingTS
// (Unix seconds; now when zero), sent here through wasend.Message like every other message; in a
// group it is an info query, whatsmeow's own, which fails with whatsmeow.ErrInvalidDisappearingTimer
// for a length WhatsApp does not offer. Other chats fail.
func (c LeaseEndingClient) SetDisappearingTimer(ctx context.Context, chat types.JID, timer time.Duration, settingTS time.Time) error {
	switch chat.Server {
	case types.DefaultUserServer, types.HiddenUserServer:
		if settingTS.IsZero() {
			settingTS = time.Now()
		}
		_, err := c.SendMessage(ctx, chat, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type:                      waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum(),
			EphemeralExpiration:       proto.Uint32(uint32(timer.Seconds())),
			EphemeralSettingTimestamp: proto.Int64(settingTS.Unix()),
		}})
		return err
	default:
		return c.Client.SetDisappearingTimer(ctx, chat, timer, settingTS)
	}
}
