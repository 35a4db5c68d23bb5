package portal

import (
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestExpiredMediaRequests: media WhatsApp no longer has becomes a notice with a hint and the phone
// is asked for it at once; a ♻️ reaction on the notice asks again and is not sent to WhatsApp; a
// reaction with another emoji is an ordinary reaction.
func TestExpiredMediaRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cli.downloadErr = whatsmeow.ErrMediaDownloadFailedWith410
	video := &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
		Mimetype: proto.String("video/mp4"), DirectPath: proto.String("/v/old"), MediaKey: []byte("key"), FileLength: proto.Uint64(10),
	}}
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waMessage(testContact, testContact, "V1", video)); err != nil {
		t.Fatal(err)
	}
	notice, _ := lastSent(t, e).content.(*event.MessageEventContent)
	if notice == nil || notice.MsgType != event.MsgNotice ||
		!strings.HasPrefix(notice.Body, "Failed to bridge video: media is no longer available on WhatsApp. The bridge asked your phone") {
		t.Fatalf("sent %+v, want the expired-media notice", lastSent(t, e).content)
	}
	if len(e.cli.mediaRetries) != 1 || e.cli.mediaRetries[0].ID != "V1" || e.cli.mediaRetries[0].IsFromMe {
		t.Fatalf("media retry requests %+v, want one for V1", e.cli.mediaRetries)
	}
	row, err := e.db.Message.GetByWAID(e.ctx, e.portal(testContact).Key, "V1")
	if err != nil || len(row) != 1 || !row[0].MediaExpired {
		t.Fatalf("stored notice %+v (%v), want it marked expired", row, err)
	}

	room := e.portal(testContact).MXID()
	sends := len(e.cli.sends)
	react := func(evtID, key string) {
		t.Helper()
		evt := mxEvent(room, id.EventID(evtID), event.EventReaction, &event.ReactionEventContent{RelatesTo: event.RelatesTo{
			Type: event.RelAnnotation, EventID: row[0].MXID, Key: key,
		}})
		if _, err := e.m.HandleMatrixEvent(e.ctx, evt); err != nil {
			t.Fatal(err)
		}
	}
	react("$recycle", "\u267b\ufe0f")
	if len(e.cli.mediaRetries) != 2 || len(e.cli.sends) != sends {
		t.Fatalf("after ♻️: %d media retry requests and %d new sends, want 2 and none", len(e.cli.mediaRetries), len(e.cli.sends)-sends)
	}
	react("$thumbs", "👍")
	if len(e.cli.mediaRetries) != 2 || len(e.cli.sends) != sends+1 || e.cli.sends[sends].msg.GetReactionMessage() == nil {
		t.Fatalf("after 👍: %d media retry requests and %d new sends, want 2 and the reaction", len(e.cli.mediaRetries), len(e.cli.sends)-sends)
	}
}
