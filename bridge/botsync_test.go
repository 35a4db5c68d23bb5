package bridge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

func TestRoomActivity(t *testing.T) {
	var a roomActivity
	now := time.Unix(1_800_000_000, 0)
	if a.busyAt(now) {
		t.Fatal("busy before any transaction")
	}
	woken := a.next()
	if again := a.next(); again != woken {
		t.Fatal("two waiters got different channels")
	}
	select {
	case <-woken:
		t.Fatal("woken before any transaction")
	default:
	}
	a.touchAt(now, 1)
	select {
	case <-woken:
	default:
		t.Fatal("a transaction did not end the wait")
	}
	if a.busyAt(now) {
		t.Fatal("busy after a single event: a quiet chat should keep the long poll")
	}
	// A wait begun after the transaction waits for the next one.
	if next := a.next(); next == woken {
		t.Fatal("the next wait reuses the closed channel")
	}

	// Events spread over the window add up; those older than the window no longer count.
	per := botSyncBusyEvents/roomActivitySlots + 1
	for i := range roomActivitySlots {
		a.touchAt(now.Add(time.Duration(i)*time.Second), per)
	}
	last := now.Add(time.Duration(roomActivitySlots-1) * time.Second)
	if !a.busyAt(last) {
		t.Fatalf("not busy after %d events in %d seconds", per*roomActivitySlots+1, roomActivitySlots)
	}
	if a.busyAt(last.Add(time.Duration(roomActivitySlots) * time.Second)) {
		t.Fatalf("still busy %d seconds after the last transaction", roomActivitySlots)
	}

	// A burst within one second is enough, for the current second and the botSyncBusyFor after
	// it, and not a second longer.
	var b roomActivity
	burst := time.Unix(1_900_000_000, 0).Add(300 * time.Millisecond)
	b.touchAt(burst, botSyncBusyEvents)
	if !b.busyAt(burst) {
		t.Fatal("a burst of botSyncBusyEvents events did not make the rooms busy")
	}
	if !b.busyAt(burst.Add(botSyncBusyFor)) {
		t.Fatalf("a burst no longer counted %v later", botSyncBusyFor)
	}
	if b.busyAt(burst.Add(botSyncBusyFor + time.Second)) {
		t.Fatalf("a burst still counted %v later", botSyncBusyFor+time.Second)
	}
	// A slot reused a window later starts from zero.
	later := burst.Add(time.Duration(roomActivitySlots) * time.Second)
	b.touchAt(later, 1)
	if b.busyAt(later) {
		t.Fatal("a slot reused after a window still counted its old events")
	}
}

func TestRoomActivityEndsTheLongPollWhenBusy(t *testing.T) {
	var a roomActivity
	cancelled := make(chan struct{})
	done := make(chan struct{})
	returned := make(chan struct{})
	go func() {
		a.untilBusy(done, func() { close(cancelled) })
		close(returned)
	}()
	a.touch(1)
	select {
	case <-cancelled:
		t.Fatal("one event ended the long poll")
	case <-time.After(50 * time.Millisecond):
	}
	a.touch(botSyncBusyEvents)
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("a burst of events did not end the long poll")
	}
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not return after ending the long poll")
	}

	// A long poll that ends by itself stops the watcher.
	var b roomActivity
	quit := make(chan struct{})
	go func() {
		b.untilBusy(done, func() { t.Error("cancelled without events") })
		close(quit)
	}()
	close(done)
	select {
	case <-quit:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not return when the request ended")
	}
}

func TestMatrixUserTyping(t *testing.T) {
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	ghost := id.NewUserID(br.Config.FormatUsername("4917600000001"), br.Config.Homeserver.Domain)
	for _, tc := range []struct {
		users []string
		want  bool
	}{
		{nil, false},
		{[]string{ghost.String()}, false},
		{[]string{ghost.String(), "@alice:" + br.Config.Homeserver.Domain}, true},
	} {
		raw, _ := json.Marshal(map[string]any{"user_ids": tc.users})
		evt := &event.Event{Type: event.EphemeralEventTyping, Content: event.Content{VeryRaw: raw}}
		if got := br.matrixUserTyping(evt); got != tc.want {
			t.Errorf("typing %v: got %v, want %v", tc.users, got, tc.want)
		}
	}
}

// TestIngestSyncReportsMatrixUsers: a redaction or typing by a Matrix user makes the bot's sync
// poll faster; what the bridge's ghosts do, or deletes as a user's own account, does not.
func TestIngestSyncReportsMatrixUsers(t *testing.T) {
	br := newTestBridge(t, testdb.SQLite, testdb.NewSQLite(t))
	ghost := id.NewUserID(br.Config.FormatUsername("4917600000002"), br.Config.Homeserver.Domain)
	alice := id.NewUserID("alice", br.Config.Homeserver.Domain)
	room := id.RoomID("!busy:" + br.Config.Homeserver.Domain)
	redaction := func(eventID id.EventID, sender id.UserID, content map[string]any) *event.Event {
		raw, _ := json.Marshal(content)
		return &event.Event{ID: eventID, Type: event.EventRedaction, Sender: sender, RoomID: room,
			Redacts: "$target", Content: event.Content{VeryRaw: raw, Raw: content}}
	}
	typing := func(users ...id.UserID) *event.Event {
		raw, _ := json.Marshal(map[string]any{"user_ids": users})
		return &event.Event{Type: event.EphemeralEventTyping, Content: event.Content{VeryRaw: raw}}
	}
	for _, tc := range []struct {
		name     string
		timeline []*event.Event
		typing   *event.Event
		want     bool
	}{
		{"nothing", nil, nil, false},
		{"a ghost typing", nil, typing(ghost), false},
		{"a Matrix user typing", nil, typing(ghost, alice), true},
		{"a ghost deleting", []*event.Event{redaction("$r1", ghost, map[string]any{})}, nil, false},
		{"the bridge deleting as the user", []*event.Event{redaction("$r2", alice, map[string]any{portal.DoublePuppetMarker: true})}, nil, false},
		{"a Matrix user deleting", []*event.Event{redaction("$r3", alice, map[string]any{})}, nil, true},
	} {
		resp := &mautrix.RespSync{}
		resp.Rooms.Join = map[id.RoomID]*mautrix.SyncJoinedRoom{room: {}}
		resp.Rooms.Join[room].Timeline.Events = tc.timeline
		if tc.typing != nil {
			resp.Rooms.Join[room].Ephemeral.Events = []*event.Event{tc.typing}
		}
		active, err := br.ingestSync(context.Background(), "s1_"+tc.name, resp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if active != tc.want {
			t.Errorf("%s: active = %v, want %v", tc.name, active, tc.want)
		}
	}
}
