package e2e

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestHomeserverAlone checks the environment's Matrix half: two users on a fresh Dendrite talk in a
// room, as they would from any Matrix client.
func TestHomeserverAlone(t *testing.T) {
	t.Parallel()
	env := New(t, Options{NoBridge: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	alice := env.NewUser(t, "alice")
	bob := env.NewUser(t, "bob")
	if want := id.NewUserID("alice", Domain); alice.UserID != want {
		t.Fatalf("alice is %s, want %s", alice.UserID, want)
	}
	whoami, err := bob.Whoami(ctx)
	if err != nil {
		t.Fatalf("whoami of bob failed: %v", err)
	}
	if whoami.UserID != id.NewUserID("bob", Domain) {
		t.Fatalf("bob's token belongs to %s", whoami.UserID)
	}

	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Tea", Preset: "public_chat"})
	if err != nil {
		t.Fatalf("alice failed to create a room: %v", err)
	}
	sent, err := alice.SendText(ctx, room.RoomID, "hello from alice")
	if err != nil {
		t.Fatalf("alice failed to send: %v", err)
	}
	if _, err = bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("bob failed to join: %v", err)
	}
	env.WaitForJoin(ctx, alice, room.RoomID, bob.UserID)

	got := env.WaitForMessage(ctx, bob, room.RoomID, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Sender == alice.UserID
	})
	if got.ID != sent.EventID {
		t.Fatalf("bob sees event %s, alice sent %s", got.ID, sent.EventID)
	}
	if body := got.Content.AsMessage().Body; body != "hello from alice" {
		t.Fatalf("bob sees %q", body)
	}

	// A reply that arrives while the helper is already waiting wakes it up through /sync.
	go func() {
		_, _ = bob.SendText(context.WithoutCancel(ctx), room.RoomID, "hi alice")
	}()
	reply := env.WaitForMessage(ctx, alice, room.RoomID, func(evt *event.Event) bool {
		return evt.Sender == bob.UserID && evt.Content.AsMessage().Body == "hi alice"
	})
	if reply.RoomID != room.RoomID {
		t.Fatalf("reply is in room %s", reply.RoomID)
	}

	both := env.WaitForMessages(ctx, alice, room.RoomID, 2, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage
	})
	if len(both) != 2 || both[0].ID != sent.EventID || both[1].ID != reply.ID {
		t.Fatalf("alice sees the messages %v, want [%s %s] in that order", eventIDs(both), sent.EventID, reply.ID)
	}
}

func eventIDs(events []*event.Event) []id.EventID {
	ids := make([]id.EventID, len(events))
	for i, evt := range events {
		ids[i] = evt.ID
	}
	return ids
}

// TestDirectChatAndRestart checks CreateDM, the m.direct marking and that a restarted homeserver keeps
// its rooms and accounts.
func TestDirectChatAndRestart(t *testing.T) {
	t.Parallel()
	env := New(t, Options{NoBridge: true, PersistentJetStream: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	carol := env.NewUser(t, "carol")
	dave := env.NewUser(t, "dave")
	dm := env.CreateDM(t, carol, dave.UserID)
	var direct event.DirectChatsEventContent
	if err := carol.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil {
		t.Fatalf("failed to read m.direct: %v", err)
	}
	if rooms := direct[dave.UserID]; len(rooms) != 1 || rooms[0] != dm {
		t.Fatalf("m.direct lists %v for dave, want [%s]", rooms, dm)
	}

	env.RestartDendrite()

	if invited := env.WaitForInvite(ctx, dave, carol.UserID); invited != dm {
		t.Fatalf("dave is invited to %s, want the DM %s", invited, dm)
	}
	if _, err := dave.JoinRoomByID(ctx, dm); err != nil {
		t.Fatalf("dave failed to accept the DM invite after the restart: %v", err)
	}
	env.WaitForJoin(ctx, carol, dm, dave.UserID)
	if _, err := dave.SendText(ctx, dm, "still here"); err != nil {
		t.Fatalf("dave failed to send: %v", err)
	}
	env.WaitForMessage(ctx, carol, dm, func(evt *event.Event) bool {
		return evt.Content.AsMessage().Body == "still here"
	})
}

// TestWaitForMessageFails checks that the wait helper really fails a test when nothing matches,
// reporting what the room holds.
func TestWaitForMessageFails(t *testing.T) {
	t.Parallel()
	env := New(t, Options{NoBridge: true})
	erin := env.NewUser(t, "erin")
	room, err := erin.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatalf("failed to create a room: %v", err)
	}
	if _, err = erin.SendText(context.Background(), room.RoomID, "only this"); err != nil {
		t.Fatalf("failed to send: %v", err)
	}

	probe := &fatalRecorder{TB: t}
	probeEnv := *env
	probeEnv.t = probe
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		probeEnv.WaitForMessage(ctx, erin, room.RoomID, func(evt *event.Event) bool {
			return evt.Content.AsMessage().Body == "never sent"
		})
	}()
	<-done
	if !strings.Contains(probe.message, `body="only this"`) {
		t.Fatalf("failure message does not show the room's latest events: %q", probe.message)
	}
}

// fatalRecorder captures Fatalf instead of ending the test, to test failure paths.
type fatalRecorder struct {
	testing.TB
	message string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.message = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestCursorReadsOnlyNewEvents: a cursor sees the events sent after it was made, in order, each
// once across calls, and none from before.
func TestCursorReadsOnlyNewEvents(t *testing.T) {
	t.Parallel()
	env := New(t, Options{NoBridge: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := env.NewUser(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Cursor"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) id.EventID {
		resp, err := alice.SendText(ctx, room.RoomID, body)
		if err != nil {
			t.Fatalf("failed to send %q: %v", body, err)
		}
		return resp.EventID
	}
	send("before")
	// The homeserver's sync stream takes the event in a moment after the send returned: the cursor
	// starts from what a sync shows, so it is made once "before" is visible there.
	env.WaitForMessage(ctx, alice, room.RoomID, func(evt *event.Event) bool {
		return evt.Type == event.EventMessage && evt.Content.AsMessage().Body == "before"
	})
	cursor := env.NewCursor(ctx, alice, room.RoomID)
	isText := func(evt *event.Event) bool { return evt.Type == event.EventMessage }
	// More than one page of new events.
	var want []id.EventID
	for i := range 130 {
		want = append(want, send(fmt.Sprintf("after %d", i)))
	}
	got := cursor.WaitFor(ctx, 130, isText)
	if len(got) != 130 {
		t.Fatalf("cursor returned %d messages, want 130", len(got))
	}
	for i, evt := range got {
		if evt.ID != want[i] || evt.Content.AsMessage().Body != fmt.Sprintf("after %d", i) {
			t.Fatalf("message %d is %s %q, want %s %q", i, evt.ID, evt.Content.AsMessage().Body, want[i], fmt.Sprintf("after %d", i))
		}
	}
	// A later call waits for what comes next, in the background, and reads nothing twice.
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = alice.SendText(context.WithoutCancel(ctx), room.RoomID, "later")
	}()
	later := cursor.WaitFor(ctx, 1, isText)
	if len(later) != 1 || later[0].Content.AsMessage().Body != "later" {
		t.Fatalf("second call returned %v", eventIDs(later))
	}
}
