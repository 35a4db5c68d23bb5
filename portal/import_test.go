package portal

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
)

func importedTexts(n int) []ImportedMessage {
	base := time.Date(2024, 1, 5, 18, 30, 0, 0, time.UTC)
	msgs := make([]ImportedMessage, n)
	for i := range msgs {
		msgs[i] = ImportedMessage{Key: fmt.Sprintf("k%d", i), Time: base.Add(time.Duration(i) * time.Minute), Sender: testContact, Text: fmt.Sprintf("old %d", i)}
	}
	return msgs
}

// TestImportHistoryResumes: an import the homeserver interrupts reports how far it came; run
// again it posts only the rest, each message once, in order and with the export's times, into
// the new portal room; a third run posts nothing.
func TestImportHistoryResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := importedTexts(5)
	msgs[2].Sender, msgs[2].SenderName = types.EmptyJID, "Dana"
	e.mx.failNext("SendEvent", nil, nil, nil, permanentErr())
	res, err := e.m.ImportHistory(e.ctx, e.login, testContact, msgs, ImportOptions{})
	if err == nil || res.Posted != 3 {
		t.Fatalf("interrupted import: posted %d, err %v; want 3 and an error", res.Posted, err)
	}
	var done []int
	res, err = e.m.ImportHistory(e.ctx, e.login, testContact, msgs, ImportOptions{Progress: func(n int) { done = append(done, n) }})
	if err != nil || res.Posted != 2 || res.Duplicates != 3 || res.HistoryRoom {
		t.Fatalf("resumed import: %+v, %v", res, err)
	}
	if !slices.Equal(done, []int{1, 2, 3, 4, 5}) {
		t.Errorf("progress %v", done)
	}
	var bodies []string
	for _, c := range e.mx.callsOf("SendEvent") {
		if c.room != res.Room || c.target == "" {
			continue
		}
		bodies = append(bodies, c.content.(*event.MessageEventContent).Body)
		if i := len(bodies) - 1; i < len(msgs) && c.ts != msgs[i].Time.UnixMilli() {
			t.Errorf("message %d at %d, want %d", i, c.ts, msgs[i].Time.UnixMilli())
		}
	}
	if want := []string{"old 0", "old 1", "Dana: old 2", "old 3", "old 4"}; !slices.Equal(bodies, want) {
		t.Errorf("room got %q, want %q", bodies, want)
	}
	res, err = e.m.ImportHistory(e.ctx, e.login, testContact, msgs, ImportOptions{})
	if err != nil || res.Posted != 0 || res.Duplicates != 5 {
		t.Errorf("third import: %+v, %v", res, err)
	}
}

// TestImportHistoryRoom: once the portal has a bridged message, imports go to one linked history
// room, which the portal room announces.
func TestImportHistoryRoom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.m.HandleWhatsAppMessage(e.ctx, e.login, waText(testContact, testContact, "LIVE1", "live")); err != nil {
		t.Fatal(err)
	}
	portalRoom := e.portal(testContact).MXID()
	res, err := e.m.ImportHistory(e.ctx, e.login, testContact, importedTexts(2), ImportOptions{ChatName: "Carol"})
	if err != nil || !res.HistoryRoom || res.Room == portalRoom || res.Posted != 2 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	more := importedTexts(3)
	res2, err := e.m.ImportHistory(e.ctx, e.login, testContact, more, ImportOptions{})
	if err != nil || res2.Room != res.Room || res2.Posted != 1 {
		t.Errorf("second import: %+v, %v; want the same history room and 1 new message", res2, err)
	}
	announced := 0
	for _, c := range e.mx.callsOf("SendEvent") {
		if c.room == portalRoom && c.user == testBot {
			announced++
		}
	}
	if announced != 1 || len(e.mx.callsOf("CreateRoom")) != 2 {
		t.Errorf("%d announcements, %d rooms; want 1 and 2 (portal and history room)", announced, len(e.mx.callsOf("CreateRoom")))
	}
}
