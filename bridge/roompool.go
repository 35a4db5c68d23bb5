package bridge

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The room pool: Matrix rooms drained side by side.
//
//	inbox wake-up ──► PendingRooms ──► schedule(room)
//	                                       │
//	            room has a worker? ── yes ─┴─► mark it "again": the worker drains once more when done
//	                   │ no
//	       fewer than limit workers? ── no ──► waiting (oldest first, each room once)
//	                   │ yes
//	                   ▼
//	   worker: drain(room) ──► portal queue ──► WhatsApp       (rows in seq order, stop at a failure)
//	                   │ done
//	                   ├──► "again"? room goes to the back of waiting
//	                   ├──► asked for a retry? schedule(room) after retryDelay
//	                   └──► the oldest waiting room takes the free worker
//
// Invariants, all kept under lock:
//   - at most one worker per room, so a room's events are handled one at a time, in seq order;
//   - at most limit workers, so a burst of rooms cannot exhaust database connections;
//   - a schedule that finds its room busy is not lost: the room is drained again afterwards,
//     and picks up the rows that arrived while it was busy.
//
// A room whose handler blocks (a large upload, a WhatsApp send that is slow to be confirmed) holds
// one worker and its own later events only; other rooms carry on with the remaining workers.
//
// Every worker and retry timer ends with ctx: wait, called after ctx is done, returns once they have.

// roomDrainFunc handles the pending events of one room (K is id.RoomID for the Matrix inbox) or one
// portal (database.PortalKey for the WhatsApp inbox) and reports whether it must be retried later.
// It must return soon after ctx is done.
type roomDrainFunc[K comparable] func(ctx context.Context, key K) (retry bool)

// roomPool runs drain for scheduled rooms, at most one worker per room and limit workers in all.
type roomPool[K comparable] struct {
	ctx        context.Context
	limit      int
	retryDelay time.Duration
	drain      roomDrainFunc[K]

	// lock guards the fields below and orders every wg.Add before wait.
	lock sync.Mutex
	// running holds the rooms that have a worker; true means the room was scheduled again meanwhile.
	running map[K]bool
	// waiting lists rooms for which no worker was free, oldest first; queued holds the same rooms.
	waiting []K
	queued  map[K]bool
	// retries are the rooms waiting for their retry delay.
	retries map[K]*time.Timer
	wg      sync.WaitGroup
}

// newRoomPool makes a pool whose workers run under ctx. limit must be at least 1.
func newRoomPool[K comparable](ctx context.Context, limit int, retryDelay time.Duration, drain roomDrainFunc[K]) *roomPool[K] {
	return &roomPool[K]{
		ctx:        ctx,
		limit:      max(limit, 1),
		retryDelay: retryDelay,
		drain:      drain,
		running:    make(map[K]bool),
		queued:     make(map[K]bool),
		retries:    make(map[K]*time.Timer),
	}
}

// schedule asks for the room to be drained. It never blocks: the room starts at once when a worker
// is free, else it waits for one; a room already being drained is drained once more afterwards.
// After ctx is done it does nothing.
func (p *roomPool[K]) schedule(roomID K) {
	p.lock.Lock()
	defer p.lock.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	if _, busy := p.running[roomID]; busy {
		p.running[roomID] = true
		return
	}
	if !p.queued[roomID] {
		p.queued[roomID] = true
		p.waiting = append(p.waiting, roomID)
	}
	p.startLocked()
}

// startLocked gives free workers to the oldest waiting rooms. Caller holds lock.
func (p *roomPool[K]) startLocked() {
	for len(p.running) < p.limit && len(p.waiting) > 0 && p.ctx.Err() == nil {
		roomID := p.waiting[0]
		p.waiting = p.waiting[1:]
		delete(p.queued, roomID)
		p.running[roomID] = false
		p.wg.Add(1)
		go p.work(roomID)
	}
}

// work is a worker's goroutine: it drains the room once, then hands its place on.
func (p *roomPool[K]) work(roomID K) {
	defer p.wg.Done()
	retry := p.drainSafely(roomID)
	p.lock.Lock()
	defer p.lock.Unlock()
	again := p.running[roomID]
	delete(p.running, roomID)
	if p.ctx.Err() != nil {
		return
	}
	if again {
		if !p.queued[roomID] {
			p.queued[roomID] = true
			p.waiting = append(p.waiting, roomID)
		}
	} else if retry {
		p.retryLocked(roomID)
	}
	p.startLocked()
}

// drainSafely runs drain, turning a panic into a retry so that the pool keeps going.
func (p *roomPool[K]) drainSafely(roomID K) (retry bool) {
	defer func() {
		if r := recover(); r != nil {
			zerolog.Ctx(p.ctx).Error().Any("room", roomID).Any("panic", r).Str("stack", string(debug.Stack())).
				Msg("Panic while draining a room's Matrix events")
			retry = true
		}
	}()
	return p.drain(p.ctx, roomID)
}

// retryLocked schedules the room again after retryDelay, unless a retry is already due. Caller
// holds lock.
func (p *roomPool[K]) retryLocked(roomID K) {
	if _, ok := p.retries[roomID]; ok {
		return
	}
	p.wg.Add(1)
	p.retries[roomID] = time.AfterFunc(p.retryDelay, func() {
		defer p.wg.Done()
		p.lock.Lock()
		delete(p.retries, roomID)
		p.lock.Unlock()
		p.schedule(roomID)
	})
}

// wait stops the pending retries and returns once every worker has finished. Call it after ctx is
// done; nothing starts after that.
func (p *roomPool[K]) wait() {
	p.lock.Lock()
	for roomID, timer := range p.retries {
		if timer.Stop() {
			p.wg.Done()
		}
		delete(p.retries, roomID)
	}
	p.lock.Unlock()
	p.wg.Wait()
}
