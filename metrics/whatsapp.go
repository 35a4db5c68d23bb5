package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// countingWAClient is a portal.WAClient that counts the messages portals send to WhatsApp and
// adds the time of its sends, uploads and downloads to the message's WhatsApp wait (waits).
type countingWAClient struct {
	portal.WAClient
	m *Metrics
}

// WAClient wraps inner so that the messages sent through it are counted; nil stays nil.
func (m *Metrics) WAClient(inner portal.WAClient) portal.WAClient {
	if inner == nil {
		return nil
	}
	return countingWAClient{WAClient: inner, m: m}
}

// SendMessage implements portal.WAClient.
func (c countingWAClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	start := time.Now()
	resp, err := c.WAClient.SendMessage(ctx, to, msg, extra...)
	waits.Since(ctx, waits.WhatsApp, start)
	switch {
	case err == nil:
		c.m.Bridged(MatrixToWhatsApp, WhatsAppKind(msg))
	case ctx.Err() == nil:
		c.m.Failed(MatrixToWhatsApp, ReasonWhatsAppSend)
	}
	return resp, err
}

// Upload implements portal.WAClient; its time counts as waiting for WhatsApp (waits).
func (c countingWAClient) Upload(ctx context.Context, plaintext []byte, appInfo whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	defer waits.Since(ctx, waits.WhatsApp, time.Now())
	return c.WAClient.Upload(ctx, plaintext, appInfo)
}

// Download implements portal.WAClient; its time counts as waiting for WhatsApp (waits).
func (c countingWAClient) Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error) {
	defer waits.Since(ctx, waits.WhatsApp, time.Now())
	return c.WAClient.Download(ctx, msg)
}

// WhatsAppKind is the kind label of a WhatsApp message, named like MatrixKind's: text, image,
// video, audio, file, location, sticker, contact, poll, reaction, edit, redaction or other.
func WhatsAppKind(msg *waE2E.Message) string {
	switch {
	case msg.GetConversation() != "" || msg.GetExtendedTextMessage() != nil:
		return "text"
	case msg.GetImageMessage() != nil:
		return "image"
	case msg.GetVideoMessage() != nil:
		return "video"
	case msg.GetAudioMessage() != nil:
		return "audio"
	case msg.GetDocumentMessage() != nil || msg.GetDocumentWithCaptionMessage() != nil:
		return "file"
	case msg.GetLocationMessage() != nil || msg.GetLiveLocationMessage() != nil:
		return "location"
	case msg.GetStickerMessage() != nil:
		return "sticker"
	case msg.GetContactMessage() != nil || msg.GetContactsArrayMessage() != nil:
		return "contact"
	case msg.GetPollCreationMessage() != nil || msg.GetPollCreationMessageV3() != nil:
		return "poll"
	case msg.GetReactionMessage() != nil:
		return "reaction"
	case msg.GetEditedMessage() != nil:
		return "edit"
	}
	if msg.GetProtocolMessage() == nil {
		return "other"
	}
	// REVOKE is the enum's zero value: only a protocol message that is there can be one.
	switch msg.GetProtocolMessage().GetType() {
	case waE2E.ProtocolMessage_REVOKE:
		return "redaction"
	case waE2E.ProtocolMessage_MESSAGE_EDIT:
		return "edit"
	}
	return "other"
}

// LoginStateChanged counts a login's state update; it is whatsapp.Options.StateChanged. Entering
// CONNECTING is a connect attempt; leaving CONNECTED is a disconnect.
func (m *Metrics) LoginStateChanged(prev, next whatsapp.State) {
	if next.Event == whatsapp.StateConnecting {
		m.connectAttempts.Inc()
	}
	if prev.Event == whatsapp.StateConnected && next.Event != whatsapp.StateConnected {
		m.disconnects.WithLabelValues(string(next.Event)).Inc()
	}
}

// Transactions wraps the appservice transaction handler so that the time to the answer is
// observed, by HTTP status.
func (m *Metrics) Transactions(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		m.transactions.WithLabelValues(strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	}
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
