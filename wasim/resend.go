package wasim

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// resendTimeout bounds the phone's answer to one placeholder resend request.
const resendTimeout = 30 * time.Second

// ResendAnswer is recorded in the phone's EventLog once it has dealt with a placeholder resend
// request: Found lists the requested message IDs it had and sent back (none: it sent nothing).
// When it is recorded, the answer has been accepted by the server.
type ResendAnswer struct {
	RequestID types.MessageID
	Found     []types.MessageID
}

// answerPeerRequest is the phone's event handler for its companions' peer requests (a
// HISTORY_SYNC_ON_DEMAND request is answered in historysync.go). A
// PLACEHOLDER_MESSAGE_RESEND request (whatsmeow's BuildUnavailableMessageRequest, sent when a
// companion could not decrypt a message) is answered as the real phone does: with a
// PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE holding each requested message the phone has as a
// WebMessageInfo, which whatsmeow's handlePlaceholderResendResponse (message.go) dispatches as an
// events.Message with UnavailableRequestID. Messages the phone does not have are left out; a
// request for none of them gets no answer.
func (c *Contact) answerPeerRequest(evt any) {
	msg, ok := evt.(*events.Message)
	if !ok || !msg.Info.IsFromMe || msg.Info.Sender.Device == 0 {
		return
	}
	req := msg.Message.GetProtocolMessage().GetPeerDataOperationRequestMessage()
	if req.GetPeerDataOperationRequestType() == waE2E.PeerDataOperationRequestType_HISTORY_SYNC_ON_DEMAND {
		go c.acct.answerHistoryRequest(msg.Info, req.GetHistorySyncOnDemandRequest()) // historysync.go
		return
	} else if req.GetPeerDataOperationRequestType() != waE2E.PeerDataOperationRequestType_PLACEHOLDER_MESSAGE_RESEND {
		return
	}
	// Sending waits for the server's ack, which the event goroutine must not block.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), resendTimeout)
		defer cancel()
		if err := c.answerPlaceholderResend(ctx, msg.Info, req); err != nil {
			c.acct.srv.log.Warn().Err(err).Str("request_id", msg.Info.ID).Msg("Phone failed to answer resend request")
		}
	}()
}

func (c *Contact) answerPlaceholderResend(ctx context.Context, reqInfo types.MessageInfo, req *waE2E.PeerDataOperationRequestMessage) error {
	var results []*waE2E.PeerDataOperationRequestResponseMessage_PeerDataOperationResult
	answer := &ResendAnswer{RequestID: reqInfo.ID}
	for _, item := range req.GetPlaceholderMessageResendRequest() {
		orig := c.awaitMessage(ctx, item.GetMessageKey().GetID())
		if orig == nil {
			continue
		}
		answer.Found = append(answer.Found, orig.Info.ID)
		data, err := proto.Marshal(webMessageInfo(orig))
		if err != nil {
			return fmt.Errorf("failed to marshal web message: %w", err)
		}
		results = append(results, &waE2E.PeerDataOperationRequestResponseMessage_PeerDataOperationResult{
			PlaceholderMessageResendResponse: &waE2E.PeerDataOperationRequestResponseMessage_PeerDataOperationResult_PlaceholderMessageResendResponse{
				WebMessageInfoBytes: data,
			},
		})
	}
	log := c.acct.srv.log.With().Str("request_id", reqInfo.ID).Int("found", len(results)).Logger()
	if len(results) == 0 {
		log.Info().Msg("Phone has none of the requested messages, not answering")
		c.Add(answer)
		return nil
	}
	resp := &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE.Enum(),
		PeerDataOperationRequestResponseMessage: &waE2E.PeerDataOperationRequestResponseMessage{
			PeerDataOperationRequestType: waE2E.PeerDataOperationRequestType_PLACEHOLDER_MESSAGE_RESEND.Enum(),
			StanzaID:                     proto.String(reqInfo.ID),
			PeerDataOperationResult:      results,
		},
	}}
	if _, err := sendMessage(ctx, c.cli, reqInfo.Sender, resp, whatsmeow.SendRequestExtra{Peer: true}); err != nil {
		return fmt.Errorf("failed to send resend response: %w", err)
	}
	log.Info().Msg("Phone answered resend request")
	c.Add(answer)
	return nil
}

// findMessage returns the (non-peer) message with the given ID the phone received or sent, or nil.
// whatsmeow dispatches a group message's sender key distribution (from its pkmsg) as an event of
// its own with the same ID; a real phone stores one message, so that part is skipped.
// resendGrace is how long the phone waits for its own copy of a requested message that has not
// reached it yet: the companion's request can overtake it (both copies leave the server at once).
const resendGrace = 5 * time.Second

// awaitMessage returns the phone's copy of message id (findMessage), waiting up to resendGrace for
// it to arrive; nil when the phone does not get it.
func (c *Contact) awaitMessage(ctx context.Context, id types.MessageID) *events.Message {
	deadline := time.Now().Add(resendGrace)
	for {
		if msg := c.findMessage(id); msg != nil {
			return msg
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Contact) findMessage(id types.MessageID) *events.Message {
	for _, evt := range c.All() {
		msg, ok := evt.(*events.Message)
		if !ok || msg.Info.ID != id || msg.Info.Category == "peer" || msg.RawMessage == nil {
			continue
		}
		content := proto.CloneOf(msg.RawMessage)
		content.SenderKeyDistributionMessage, content.MessageContextInfo = nil, nil
		if proto.Size(content) > 0 {
			return msg
		}
	}
	return nil
}

// webMessageInfo is a received message as the phone stores it: WhatsApp's WebMessageInfo, the form
// whatsmeow's ParseWebMessage reads.
func webMessageInfo(msg *events.Message) *waWeb.WebMessageInfo {
	info := msg.Info
	key := &waCommon.MessageKey{
		RemoteJID: proto.String(info.Chat.ToNonAD().String()),
		FromMe:    proto.Bool(info.IsFromMe),
		ID:        proto.String(info.ID),
	}
	web := &waWeb.WebMessageInfo{
		Key:              key,
		Message:          msg.RawMessage,
		MessageTimestamp: proto.Uint64(uint64(info.Timestamp.Unix())),
	}
	if info.PushName != "" {
		web.PushName = proto.String(info.PushName)
	}
	if info.IsGroup && !info.IsFromMe {
		key.Participant = proto.String(info.Sender.ToNonAD().String())
		web.Participant = key.Participant
	}
	return web
}

// SetOnline takes the contact's phone offline (false: it disconnects, and what is sent to it waits
// in its queue, retry receipts included) or brings it back online (true), waiting until it is
// connected.
func (c *Contact) SetOnline(ctx context.Context, online bool) error {
	if !online {
		c.cli.Disconnect()
		return nil
	}
	if c.cli.IsConnected() {
		return nil
	}
	if err := c.cli.ConnectContext(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("failed to reconnect contact %s: %w", c.acct.pn.User, err)
	}
	return c.WaitConnected(ctx)
}
