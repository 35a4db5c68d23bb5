package portal

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// at gives msg the timestamp base + minutes.
func at(msg *events.Message, minutes int) *events.Message {
	msg.Info.Timestamp = time.Unix(1700000000, 0).Add(time.Duration(minutes) * time.Minute)
	return msg
}

func image(caption string) *waE2E.Message {
	return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String(caption), Mimetype: proto.String("image/jpeg")}}
}

// TestBackfillChat: history is posted in order with WhatsApp's timestamps, reactions and edits
// apply to earlier history messages, a second delivery of the same history adds nothing, history
// older than the room's newest message is not posted, and attachments over the limit become notices.
func TestBackfillChat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	history := []*events.Message{
		at(waText(testContact, testContact, "H1", "first"), 0),
		at(waReaction(testContact, "H2", "H1", "👍"), 1),
		at(waText(testContact, testContact, "H3", "secnd"), 2),
		at(waProtocol(testContact, "H4", "H3", &waE2E.Message{Conversation: proto.String("second")}), 3),
		at(waMessage(testContact, testContact, "H5", image("a view")), 4),
	}
	res, err := e.m.BackfillChat(e.ctx, e.login, testContact, history, BackfillOptions{Media: true, MediaLimit: 0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bridged != 5 || res.MediaSkipped != 1 || res.Duplicates != 0 || res.TooOld != 0 {
		t.Errorf("result = %+v", res)
	}
	sends := e.mx.callsOf("SendEvent")
	want := []string{"m.room.message:first", "m.reaction:👍\ufe0f", "m.room.message:secnd", "m.room.message:* second",
		"m.room.message:a view\n(A photo from the chat history was not brought over: only 0 files per chat are.)"}
	if got := summaries(sends); !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
	for i, send := range sends {
		if send.ts != history[i].Info.Timestamp.UnixMilli() {
			t.Errorf("send %d at %d, want WhatsApp's time %d", i, send.ts, history[i].Info.Timestamp.UnixMilli())
		}
	}
	if n := len(e.mx.callsOf("CreateRoom")); n != 1 {
		t.Errorf("%d rooms created, want 1", n)
	}

	// The same history again (a later chunk), plus one message older than the room's newest: only
	// a notice saying one message from then could not be brought over is posted; a retry of the
	// same notice has the same transaction ID.
	again := append(slices.Clone(history), at(waText(testContact, testContact, "H0", "older"), -5))
	res, err = e.m.BackfillChat(e.ctx, e.login, testContact, again, BackfillOptions{Media: true, MediaLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bridged != 0 || res.TooOld != 1 || res.Duplicates != 5 {
		t.Errorf("second result = %+v", res)
	}
	sends = e.mx.callsOf("SendEvent")
	if n := len(sends); n != len(want)+1 {
		t.Fatalf("%d events sent in all, want %d and the gap notice", n, len(want))
	}
	gap := sends[len(sends)-1]
	wantGap := "m.room.message:1 message of this chat from 2023-11-14 22:08 to 2023-11-14 22:08 UTC could not be brought over"
	if got := summary(gap); gap.user != testBot || !strings.HasPrefix(got, wantGap) {
		t.Errorf("gap notice %q from %s, want %q… from the bot", got, gap.user, wantGap)
	}
}

// TestLiveMessageWaitsForBackfill: a live message of a chat whose history is being posted comes
// after the whole history.
func TestLiveMessageWaitsForBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var history []*events.Message
	for i := range 100 {
		history = append(history, at(waText(testContact, testContact, fmt.Sprintf("H%03d", i), fmt.Sprint(i)), i))
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.m.BackfillChat(e.ctx, e.login, testContact, history, BackfillOptions{Media: true, MediaLimit: -1})
		done <- err
	}()
	for len(e.mx.callsOf("SendEvent")) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, at(waText(testContact, testContact, "LIVE", "live"), 200)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sends := summaries(e.mx.callsOf("SendEvent"))
	if len(sends) != 101 || sends[100] != "m.room.message:live" {
		t.Errorf("%d events, the last %q; want the 100 history messages, then the live one", len(sends), sends[len(sends)-1])
	}
}
