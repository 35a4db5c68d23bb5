package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/png" // the bridge posts QR codes as PNG
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// scanAttempts bounds how often the phone retries a QR code that the bridge rotated meanwhile.
const scanAttempts = 5

// linkPhone logs the demo user in to WhatsApp through the bridge as a person would: send `login` in
// the management room, take the QR code the bot posts, and scan it with the simulated phone. A
// session left over from an earlier run (which this simulator does not know) is deleted first.
func (m *matrixSide) linkPhone(ctx context.Context, room id.RoomID, acct *wasim.Account, progress func(string, ...any)) error {
	var loginEvt id.EventID
	for attempt := 0; ; attempt++ {
		var err error
		loginEvt, err = m.command(ctx, room, "login")
		if err != nil {
			return err
		}
		answer, err := m.waitEvent(ctx, "the bridge to answer `login`", room, loginEvt, func(evt *event.Event) bool {
			return m.isQR(evt) || m.botNotice("already logged in")(evt) || m.botNotice("already in progress")(evt)
		})
		if err != nil {
			return err
		}
		if m.isQR(answer) {
			progress("Linking the simulated phone: scanning the QR code the bridge posted...")
			if err = m.scanQR(ctx, room, answer, acct); err != nil {
				return err
			}
			break
		}
		if attempt > 0 {
			return fmt.Errorf("the bridge keeps refusing to log in: %s", answer.Content.AsMessage().Body)
		}
		// A session of an earlier demo run (its phone is gone with the simulator's memory), or a
		// login left pending: clear it and start again.
		progress("Removing the WhatsApp session of an earlier run...")
		text := "delete-session"
		want := "ession"
		if m.botNotice("already in progress")(answer) {
			text, want = "cancel", "cancel"
		}
		cmdEvt, err := m.command(ctx, room, text)
		if err != nil {
			return err
		}
		if _, err = m.waitEvent(ctx, "the bridge to answer `"+text+"`", room, cmdEvt, m.botNotice(want)); err != nil {
			return err
		}
	}
	if _, err := m.waitEvent(ctx, "the bridge to confirm the login", room, loginEvt, m.botNotice("Successfully logged in as +"+acct.JID().User)); err != nil {
		return err
	}
	return waitLinkedOnline(ctx, acct)
}

// isQR matches the bot's QR code image (not a later replacement of it).
func (m *matrixSide) isQR(evt *event.Event) bool {
	if evt.Sender != m.bot || evt.Type != event.EventMessage {
		return false
	}
	content := evt.Content.AsMessage()
	return content.MsgType == event.MsgImage && content.RelatesTo.GetReplaceID() == ""
}

// scanQR scans the code in qrEvt, or in its newest replacement when the bridge rotated the code.
func (m *matrixSide) scanQR(ctx context.Context, room id.RoomID, qrEvt *event.Event, acct *wasim.Account) error {
	var lastErr error
	for range scanAttempts {
		content := m.latestQR(ctx, room, qrEvt)
		code, err := m.decodeQR(ctx, content)
		if err != nil {
			return err
		}
		lastErr = acct.ScanQR(ctx, code)
		if lastErr == nil {
			return nil
		}
		if !errors.Is(lastErr, wasim.ErrUnknownRef) {
			break
		}
		// The code expired between posting and scanning: wait for the next one.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the phone failed to scan the QR code: %w", lastErr)
}

// latestQR returns the content of the newest replacement of qrEvt, or qrEvt's own content.
func (m *matrixSide) latestQR(ctx context.Context, room id.RoomID, qrEvt *event.Event) *event.MessageEventContent {
	content := qrEvt.Content.AsMessage()
	events, err := m.eventsAfter(ctx, room, qrEvt.ID)
	if err != nil {
		return content
	}
	for _, evt := range events {
		edit := evt.Content.AsMessage()
		if evt.Sender == m.bot && edit.RelatesTo.GetReplaceID() == qrEvt.ID && edit.NewContent != nil {
			content = edit.NewContent
		}
	}
	return content
}

// decodeQR downloads a QR image and reads it as a phone camera would.
func (m *matrixSide) decodeQR(ctx context.Context, content *event.MessageEventContent) (string, error) {
	uri, err := content.URL.Parse()
	if err != nil {
		return "", fmt.Errorf("the QR image has a bad URL %q: %w", content.URL, err)
	}
	data, err := m.client.DownloadBytes(ctx, uri)
	if err != nil {
		return "", fmt.Errorf("failed to download the QR image: %w", err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("the QR image is not a picture: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("failed to read the QR image: %w", err)
	}
	// A generated code reads most reliably in pure-barcode mode; the finder search is the fallback.
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_PURE_BARCODE: true},
		{gozxing.DecodeHintType_TRY_HARDER: true},
	} {
		var result *gozxing.Result
		if result, err = qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return result.GetText(), nil
		}
	}
	return "", fmt.Errorf("failed to decode the QR image: %w", err)
}

// waitLinkedOnline waits until the account has a linked device and it is connected.
func waitLinkedOnline(ctx context.Context, acct *wasim.Account) error {
	for {
		devices := acct.Devices()
		if len(devices) > 1 && acct.Online(devices[len(devices)-1].Device) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bridge's WhatsApp connection did not come up: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}
