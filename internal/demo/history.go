package demo

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// History the demo phone has before it is linked, so that the bridge shows a chat history right
// after login. The messages have fixed IDs: a second demo run brings nothing over twice.
const (
	// HistoryGroupName is the WhatsApp group whose history the phone has.
	HistoryGroupName = "Book club"
	// HistoryPhotoCaption is the caption of the photo in the history with Alice.
	HistoryPhotoCaption = "The lake this morning"
	// HistoryFirst is the oldest message of the history with Alice.
	HistoryFirst = "Are we still on for Saturday?"
	// HistoryDone is the notice that says the history is in Matrix.
	HistoryDone = "Your history is here"
)

// seedHistory gives the demo phone a few chats of history from the last days: with Alice (text, a
// photo, a reply to it and a reaction), with Bob, and in the group HistoryGroupName.
func seedHistory(ctx context.Context, srv *wasim.Server, acct *wasim.Account, alice, bob *wasim.Account) error {
	photo, err := acct.HistoryMedia(ctx, wasim.Media{Kind: wasim.KindImage, Data: demoPicture(), MimeType: "image/png", Caption: HistoryPhotoCaption})
	if err != nil {
		return fmt.Errorf("failed to upload the history photo: %w", err)
	}
	group, err := srv.CreateGroup(ctx, alice, HistoryGroupName, acct, bob)
	if err != nil {
		return fmt.Errorf("failed to create the history group: %w", err)
	}
	day := time.Now().Add(-48 * time.Hour).Truncate(time.Minute)
	at := func(minutes int) time.Time { return day.Add(time.Duration(minutes) * time.Minute) }
	dm := alice.JID()
	text := func(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }
	_, err = acct.AddHistory(
		wasim.HistoryMessage{Chat: dm, ID: "3EB0DE00000000000001", PushName: Alice.Name, Timestamp: at(0), Message: text(HistoryFirst)},
		wasim.HistoryMessage{Chat: dm, ID: "3EB0DE00000000000002", FromMe: true, Timestamp: at(3), Message: text("Yes! Look where I went")},
		wasim.HistoryMessage{Chat: dm, ID: "3EB0DE00000000000003", FromMe: true, Timestamp: at(4), Message: photo},
		wasim.HistoryMessage{Chat: dm, ID: "3EB0DE00000000000004", PushName: Alice.Name, Timestamp: at(9), Message: &waE2E.Message{
			ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("Wow, where is that?"), ContextInfo: &waE2E.ContextInfo{
				StanzaID: proto.String("3EB0DE00000000000003"), Participant: proto.String(acct.JID().String()),
			}},
		}},
		wasim.HistoryMessage{Chat: dm, ID: "3EB0DE00000000000005", PushName: Alice.Name, Timestamp: at(10), Message: &waE2E.Message{
			ReactionMessage: &waE2E.ReactionMessage{Key: &waCommon.MessageKey{
				RemoteJID: proto.String(dm.String()), FromMe: proto.Bool(true), ID: proto.String("3EB0DE00000000000003"),
			}, Text: proto.String("❤️")},
		}},
		wasim.HistoryMessage{Chat: bob.JID(), ID: "3EB0DE00000000000006", PushName: Bob.Name, Timestamp: at(60), Message: text("Did you finish the book?")},
		wasim.HistoryMessage{Chat: bob.JID(), ID: "3EB0DE00000000000007", FromMe: true, Timestamp: at(65), Message: text("Two chapters to go")},
		wasim.HistoryMessage{Chat: group, ID: "3EB0DE00000000000008", Sender: alice.JID(), PushName: Alice.Name, Timestamp: at(120), Message: text("Next book: suggestions?")},
		wasim.HistoryMessage{Chat: group, ID: "3EB0DE00000000000009", Sender: bob.JID(), PushName: Bob.Name, Timestamp: at(125), Message: text("Something short this time")},
	)
	return err
}

// demoPicture is a small PNG: a blue sky over a green lake.
func demoPicture() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		c := color.RGBA{R: 90, G: 160, B: 230, A: 255}
		if y >= 28 {
			c = color.RGBA{R: 40, G: 120, B: 90, A: 255}
		}
		for x := range 64 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// historyTimeout bounds the wait for the history, so that a bridge without history support cannot
// hold up the demo.
const historyTimeout = 60 * time.Second

// waitHistory waits for the bridge's summary of the history in the management room, after the
// event after.
func waitHistory(ctx context.Context, m *matrixSide, room id.RoomID, after id.EventID) error {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	_, err := m.waitEvent(ctx, "the history to come over", room, after, m.botNotice(HistoryDone))
	return err
}
