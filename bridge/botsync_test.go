package bridge

import (
	"encoding/json"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
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

	// Events spread over the window add up; those older than botSyncBusyFor no longer count.
	per := botSyncBusyEvents/roomActivitySlots + 1
	for i := range roomActivitySlots {
		a.touchAt(now.Add(time.Duration(i)*time.Second), per)
	}
	last := now.Add(time.Duration(roomActivitySlots-1) * time.Second)
	if !a.busyAt(last) {
		t.Fatalf("not busy after %d events in %v", per*roomActivitySlots+1, botSyncBusyFor)
	}
	if a.busyAt(last.Add(botSyncBusyFor)) {
		t.Fatalf("still busy %v after the last transaction", botSyncBusyFor)
	}
	// A burst within one second is enough, and a slot reused a window later starts from zero.
	a.touchAt(last.Add(botSyncBusyFor), botSyncBusyEvents)
	if !a.busyAt(last.Add(botSyncBusyFor)) {
		t.Fatal("a burst of botSyncBusyEvents events did not make the rooms busy")
	}
	later := last.Add(2 * botSyncBusyFor)
	a.touchAt(later, 1)
	if a.busyAt(later) {
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
	<-returned

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
