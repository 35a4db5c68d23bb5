package bridge

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestRoomPoolBound: with more blocked rooms than workers, exactly limit rooms run; the others wait
// their turn, oldest first, and every room runs once.
func TestRoomPoolBound(t *testing.T) {
	t.Parallel()
	const limit, rooms = 3, 10
	var running, maxRunning atomic.Int32
	started := make(chan id.RoomID, rooms)
	release := make(chan struct{})
	pool, _ := startPool(t, limit, time.Hour, func(ctx context.Context, roomID id.RoomID) bool {
		storeMax(&maxRunning, running.Add(1))
		started <- roomID
		<-release
		running.Add(-1)
		return false
	})
	for r := range rooms {
		pool.schedule(room(r))
	}
	var order []id.RoomID
	for range limit {
		order = append(order, <-started)
	}
	pool.lock.Lock()
	waiting := len(pool.waiting)
	pool.lock.Unlock()
	if waiting != rooms-limit {
		t.Errorf("%d rooms wait for a worker, want %d", waiting, rooms-limit)
	}
	for range rooms - limit {
		release <- struct{}{}
		order = append(order, <-started)
	}
	close(release)
	waitUntil(t, "every worker to finish", func() bool { return pool.runningRooms() == 0 })
	if m := maxRunning.Load(); m != limit {
		t.Errorf("at most %d rooms ran at once, want %d", m, limit)
	}
	want := make([]id.RoomID, rooms)
	for r := range want {
		want[r] = room(r)
	}
	if !slices.Equal(order[limit:], want[limit:]) {
		t.Errorf("waiting rooms started as %v, want %v", order[limit:], want[limit:])
	}
}

// TestRoomPoolWakeWhileBusy: rows that arrive while their room is being drained are handled by one
// more drain after the current one, however often the room was scheduled meanwhile.
func TestRoomPoolWakeWhileBusy(t *testing.T) {
	t.Parallel()
	inbox := newFakeInbox()
	var drains atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	drain := inbox.drain(nil)
	pool, _ := startPool(t, 4, time.Hour, func(ctx context.Context, roomID id.RoomID) bool {
		if drains.Add(1) == 1 {
			close(entered)
			<-release
		}
		return drain(ctx, roomID)
	})
	pool.schedule(room(0))
	<-entered
	for n := range 3 {
		inbox.add(room(0), n)
		pool.schedule(room(0))
	}
	close(release)
	waitUntil(t, "the rows added while busy", func() bool { return len(inbox.handledOf(room(0))) == 3 })
	waitUntil(t, "the worker to finish", func() bool { return pool.runningRooms() == 0 })
	if n := drains.Load(); n != 2 {
		t.Errorf("room drained %d times, want 2 (once more after the busy drain)", n)
	}
}

// TestRoomPoolRetries: a drain that asks for a retry, or panics, is run again after the retry
// delay without being scheduled again.
func TestRoomPoolRetries(t *testing.T) {
	t.Parallel()
	var calls sync.Map
	done := make(chan id.RoomID, 2)
	pool, _ := startPool(t, 2, 10*time.Millisecond, func(ctx context.Context, roomID id.RoomID) bool {
		n, _ := calls.LoadOrStore(roomID, new(atomic.Int32))
		switch n.(*atomic.Int32).Add(1) {
		case 1:
			if roomID == room(1) {
				panic("handler bug")
			}
			return true
		case 2:
			done <- roomID
		}
		return false
	})
	pool.schedule(room(0))
	pool.schedule(room(1))
	for range 2 {
		select {
		case <-done:
		case <-time.After(eventTimeout):
			t.Fatal("a room asking for a retry was not retried")
		}
	}
}

// TestRoomPoolShutdown: after the context ends, wait returns once the running drains return,
// pending retries are dropped, and nothing is started any more.
func TestRoomPoolShutdown(t *testing.T) {
	t.Parallel()
	var drains atomic.Int32
	entered := make(chan struct{}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	pool := newRoomPool(ctx, 1, time.Hour, func(ctx context.Context, roomID id.RoomID) bool {
		drains.Add(1)
		entered <- struct{}{}
		if roomID == room(0) {
			return true // a retry due in an hour, which wait must not wait for
		}
		<-ctx.Done()
		return true
	})
	pool.schedule(room(0))
	<-entered
	waitUntil(t, "the retry to be pending", func() bool {
		pool.lock.Lock()
		defer pool.lock.Unlock()
		return len(pool.retries) == 1 && len(pool.running) == 0
	})
	pool.schedule(room(1))
	pool.schedule(room(2)) // waits: the only worker is blocked in room 1
	<-entered
	cancel()
	waited := make(chan struct{})
	go func() { pool.wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(eventTimeout):
		t.Fatal("wait did not return after the context ended")
	}
	pool.schedule(room(3))
	if n := drains.Load(); n != 2 {
		t.Errorf("%d drains ran, want 2 (room 2 waited and room 3 came after the end)", n)
	}
	if n := pool.runningRooms(); n != 0 {
		t.Errorf("%d rooms still have a worker", n)
	}
}

// storeMax raises m to n if n is larger.
func storeMax(m *atomic.Int32, n int32) {
	for {
		old := m.Load()
		if n <= old || m.CompareAndSwap(old, n) {
			return
		}
	}
}
