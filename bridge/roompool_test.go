package bridge

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// eventTimeout bounds every wait for something the pool must do; the tests never sleep for a
// fixed time, so a slow machine only makes them slower.
const eventTimeout = 20 * time.Second

// fakeInbox stands in for the matrix_inbox table: per room, a list of pending numbers that a drain
// handles in order.
type fakeInbox struct {
	lock     sync.Mutex
	pending  map[id.RoomID][]int
	handled  map[id.RoomID][]int
	inFlight map[id.RoomID]int
	overlap  atomic.Bool // set when two workers drained one room at once
}

func newFakeInbox() *fakeInbox {
	return &fakeInbox{pending: map[id.RoomID][]int{}, handled: map[id.RoomID][]int{}, inFlight: map[id.RoomID]int{}}
}

func (f *fakeInbox) add(roomID id.RoomID, n int) {
	f.lock.Lock()
	f.pending[roomID] = append(f.pending[roomID], n)
	f.lock.Unlock()
}

// drain handles the room's rows one by one, as Bridge.drainRoom does, calling each before handling.
func (f *fakeInbox) drain(each func(id.RoomID)) roomDrainFunc[id.RoomID] {
	return func(ctx context.Context, roomID id.RoomID) bool {
		f.lock.Lock()
		f.inFlight[roomID]++
		if f.inFlight[roomID] > 1 {
			f.overlap.Store(true)
		}
		rows := slices.Clone(f.pending[roomID])
		f.lock.Unlock()
		defer func() {
			f.lock.Lock()
			f.inFlight[roomID]--
			f.lock.Unlock()
		}()
		for _, n := range rows {
			if each != nil {
				each(roomID)
			}
			f.lock.Lock()
			f.handled[roomID] = append(f.handled[roomID], n)
			f.pending[roomID] = f.pending[roomID][1:]
			f.lock.Unlock()
		}
		return false
	}
}

func (f *fakeInbox) handledOf(roomID id.RoomID) []int {
	f.lock.Lock()
	defer f.lock.Unlock()
	return slices.Clone(f.handled[roomID])
}

// waitUntil polls cond until it holds, failing the test after eventTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startPool runs a pool until the test ends, then checks that wait returns.
func startPool(t *testing.T, limit int, retryDelay time.Duration, drain roomDrainFunc[id.RoomID]) (*roomPool[id.RoomID], context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool := newRoomPool(ctx, limit, retryDelay, drain)
	t.Cleanup(func() {
		cancel()
		waited := make(chan struct{})
		go func() { pool.wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(eventTimeout):
			t.Error("pool.wait did not return after the context ended")
		}
	})
	return pool, cancel
}

func (p *roomPool[K]) runningRooms() int {
	p.lock.Lock()
	defer p.lock.Unlock()
	return len(p.running)
}

func room(i int) id.RoomID { return id.RoomID(fmt.Sprintf("!room%d:test.local", i)) }

// TestRoomPoolKeepsOrderPerRoom: rows added and scheduled from several goroutines at once are
// handled once each, in order per room, never by two workers of one room at once.
func TestRoomPoolKeepsOrderPerRoom(t *testing.T) {
	t.Parallel()
	inbox := newFakeInbox()
	pool, _ := startPool(t, 3, time.Hour, inbox.drain(nil))
	const rooms, perRoom = 6, 50
	var producers sync.WaitGroup
	for r := range rooms {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for n := range perRoom {
				inbox.add(room(r), n)
				pool.schedule(room(r))
			}
		}()
	}
	producers.Wait()
	want := make([]int, perRoom)
	for n := range want {
		want[n] = n
	}
	for r := range rooms {
		waitUntil(t, fmt.Sprintf("room %d to be drained", r), func() bool { return len(inbox.handledOf(room(r))) >= perRoom })
		if got := inbox.handledOf(room(r)); !slices.Equal(got, want) {
			t.Errorf("room %d handled %v, want %v", r, got, want)
		}
	}
	if inbox.overlap.Load() {
		t.Error("two workers drained the same room at once")
	}
}

// TestRoomPoolBlockedRoomDoesNotHoldOthers: while one room's handler is blocked, the other rooms'
// events are handled; the blocked room's events follow in order once it is released.
func TestRoomPoolBlockedRoomDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	inbox := newFakeInbox()
	release := make(chan struct{})
	slow := room(0)
	pool, _ := startPool(t, 2, time.Hour, inbox.drain(func(roomID id.RoomID) {
		if roomID == slow {
			<-release
		}
	}))
	for n := range 3 {
		inbox.add(slow, n)
	}
	pool.schedule(slow)
	waitUntil(t, "the slow room to start", func() bool { return pool.runningRooms() == 1 })
	for r := 1; r <= 4; r++ {
		for n := range 3 {
			inbox.add(room(r), n)
		}
		pool.schedule(room(r))
	}
	for r := 1; r <= 4; r++ {
		waitUntil(t, fmt.Sprintf("room %d to be handled", r), func() bool { return len(inbox.handledOf(room(r))) == 3 })
		if got := inbox.handledOf(room(r)); !slices.Equal(got, []int{0, 1, 2}) {
			t.Errorf("room %d handled %v, want [0 1 2]", r, got)
		}
	}
	if got := inbox.handledOf(slow); len(got) != 0 {
		t.Fatalf("blocked room handled %v while blocked", got)
	}
	close(release)
	waitUntil(t, "the slow room to be handled", func() bool { return len(inbox.handledOf(slow)) == 3 })
	if got := inbox.handledOf(slow); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("slow room handled %v, want [0 1 2]", got)
	}
}
