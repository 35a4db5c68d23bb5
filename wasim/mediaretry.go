package wasim

import (
	"context"
	"crypto/rand"
	"fmt"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waMmsRetry"
	"go.mau.fi/whatsmeow/util/gcmutil"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"google.golang.org/protobuf/proto"
)

// mediaRetryNotAvailable is the error code whatsmeow reads as "the phone no longer has the media".
const mediaRetryNotAvailable = "2"

func mediaRetryKey(mediaKey []byte) []byte {
	return hkdfutil.SHA256(mediaKey, nil, []byte("WhatsApp Media Retry Notification"), 32)
}

// handleMediaRetryReceipt plays the phone's part when a companion asks for expired media again
// (whatsmeow's SendMediaRetryReceipt, a receipt of type server-error to its own JID). A real
// phone re-uploads the file from its own storage; the simulated phone finds the message among
// what it received, checks the request with the message's media key, republishes the stored blob
// under a new direct path and answers with a mediaretry notification encrypted with that key. If
// the phone never got the message it answers with error code 2 (ErrMediaNotAvailableOnPhone). The
// request can overtake the phone's own copy of a message that just arrived, so the phone answers
// from a goroutine of its own, waiting up to resendGrace for that copy. It reports whether the
// receipt was a media retry request.
func (s *Server) handleMediaRetryReceipt(c *conn, node *waBinary.Node) bool {
	if typ, _ := node.Attrs["type"].(string); typ != "server-error" {
		return false
	}
	msgID, _ := node.Attrs["id"].(string)
	rmr, hasRMR := node.GetOptionalChildByTag("rmr")
	encP, okP := node.GetChildByTag("encrypt", "enc_p").Content.([]byte)
	encIV, okIV := node.GetChildByTag("encrypt", "enc_iv").Content.([]byte)
	s.stateLock.Lock()
	reader := c.dev
	var phone *Contact
	if reader != nil {
		phone = reader.acct.phone
	}
	s.stateLock.Unlock()
	if reader == nil || !hasRMR || !okP || !okIV || msgID == "" {
		return true
	}
	rmrAttrs := waBinary.Attrs{}
	for _, key := range []string{"jid", "from_me", "participant"} {
		if v, ok := rmr.Attrs[key]; ok {
			rmrAttrs[key] = v
		}
	}
	go s.answerMediaRetry(c, reader, phone, msgID, rmrAttrs, encP, encIV)
	return true
}

// answerMediaRetry sends reader the phone's answer to its media retry request for msgID.
func (s *Server) answerMediaRetry(c *conn, reader *device, phone *Contact, msgID string, rmrAttrs waBinary.Attrs, encP, encIV []byte) {
	log := c.log.With().Str("message_id", msgID).Logger()
	notif := waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
		"type": "mediaretry", "id": msgID, "from": reader.acct.pn, "t": nowString(),
	}}
	payload, mediaKey := s.republishMedia(context.WithoutCancel(c.ctx), phone, msgID, encP, encIV)
	if payload == nil {
		log.Debug().Msg("Phone cannot serve media retry request")
		notif.Content = []waBinary.Node{
			{Tag: "rmr", Attrs: rmrAttrs},
			{Tag: "error", Attrs: waBinary.Attrs{"code": mediaRetryNotAvailable}},
		}
	} else {
		iv := randomBytesN(12)
		plaintext, _ := proto.Marshal(payload)
		ciphertext, err := gcmutil.Encrypt(mediaRetryKey(mediaKey), iv, plaintext, []byte(msgID))
		if err != nil {
			log.Warn().Err(err).Msg("Failed to encrypt media retry notification")
			return
		}
		notif.Content = []waBinary.Node{
			{Tag: "encrypt", Content: []waBinary.Node{{Tag: "enc_p", Content: ciphertext}, {Tag: "enc_iv", Content: iv}}},
			{Tag: "rmr", Attrs: rmrAttrs},
		}
		log.Debug().Str("result", payload.GetResult().String()).Msg("Answered media retry request")
	}
	s.stateLock.Lock()
	if !s.closed {
		// The device's queue, not the connection: a companion that reconnected meanwhile gets it.
		s.enqueueLocked(reader, notif)
	}
	s.stateLock.Unlock()
}

// republishMedia finds message msgID among what the phone received, verifies the encrypted
// request with its media key and gives the blob a new direct path. It returns nil if the phone
// does not have the message or the request does not decrypt.
func (s *Server) republishMedia(ctx context.Context, phone *Contact, msgID string, encP, encIV []byte) (*waMmsRetry.MediaRetryNotification, []byte) {
	if phone == nil {
		return nil, nil
	}
	found := phone.awaitMessage(ctx, msgID) // resend.go
	if found == nil || Attachment(found.Message) == nil {
		return nil, nil
	}
	att := Attachment(found.Message)
	mediaKey := att.GetMediaKey()
	plaintext, err := gcmutil.Decrypt(mediaRetryKey(mediaKey), encIV, encP, []byte(msgID))
	var req waMmsRetry.ServerErrorReceipt
	if err != nil || proto.Unmarshal(plaintext, &req) != nil || req.GetStanzaID() != msgID {
		return nil, nil
	}
	result := &waMmsRetry.MediaRetryNotification{StanzaID: proto.String(msgID)}
	newPath, err := s.media.republish(att.GetDirectPath())
	if err != nil {
		result.Result = waMmsRetry.MediaRetryNotification_NOT_FOUND.Enum()
	} else {
		result.Result = waMmsRetry.MediaRetryNotification_SUCCESS.Enum()
		result.DirectPath = proto.String(newPath)
	}
	return result, mediaKey
}

// republish stores the blob at directPath again under a fresh, unexpired direct path, as the
// phone's re-upload would.
func (m *mediaStore) republish(directPath string) (string, error) {
	key := mediaKeyOf(directPath)
	m.lock.Lock()
	defer m.lock.Unlock()
	blob := m.blobs[key]
	if blob == nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchMedia, key)
	}
	newPath, newKey := newDirectPath(blob.mmsType)
	m.blobs[newKey] = &mediaBlob{data: blob.data, encSHA256: blob.encSHA256, mmsType: blob.mmsType}
	return newPath, nil
}

func randomBytesN(n int) []byte {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return buf
}
