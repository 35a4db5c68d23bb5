package portal

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// The portal queue.
//
//	whatsmeow handler (per login) ──┐
//	                                ├──> Portal.queue ──> Portal.loop (one goroutine) ──> Matrix / WhatsApp
//	Matrix inbox worker ────────────┘
//
// Events from both sides go through one channel and are handled one at a time, in the order they
// were enqueued. The caller waits for the result, so:
//   - a WhatsApp message is acknowledged to WhatsApp only after it reached Matrix (SynchronousAck),
//     and a crash before that makes WhatsApp deliver it again;
//   - a Matrix event leaves the durable inbox only after it reached WhatsApp.
// Two bridge users in one group deliver the same WhatsApp message twice; the second copy finds the
// message already mapped and is dropped, which is only safe because the check and the insert happen
// in the same goroutine.
//
// A handler that takes longer than slowHandlerWarning is logged (the watchdog) but not abandoned,
// since abandoning it would break the order.

const slowHandlerWarning = 30 * time.Second

type queueItem struct {
	ctx    context.Context
	name   string
	handle func(ctx context.Context) error
	done   chan error
}

// run enqueues fn and waits for its result. It fails when ctx ends or the bridge stops before the
// portal got to it; the caller then treats the event as not handled (it will come again).
func (p *Portal) run(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	item := &queueItem{ctx: ctx, name: name, handle: fn, done: make(chan error, 1)}
	select {
	case p.queue <- item:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.m.ctx.Done():
		return p.m.ctx.Err()
	}
	select {
	case err := <-item.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-p.m.ctx.Done():
		return p.m.ctx.Err()
	}
}

func (p *Portal) loop() {
	defer p.m.wg.Done()
	for {
		select {
		case <-p.m.ctx.Done():
			return
		case item := <-p.queue:
			item.done <- p.handleItem(item)
		}
	}
}

// handleItem runs one queued handler with a watchdog and turns a panic into an error.
func (p *Portal) handleItem(item *queueItem) (err error) {
	if item.ctx.Err() != nil {
		return item.ctx.Err()
	}
	start := time.Now()
	watchdog := time.AfterFunc(slowHandlerWarning, func() {
		p.log.Warn().Str("handler", item.name).Dur("running_for", time.Since(start)).Msg("Portal handler is taking long")
	})
	defer watchdog.Stop()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error().Str("handler", item.name).Any("panic", r).Str("stack", string(debug.Stack())).Msg("Panic in portal handler")
			err = fmt.Errorf("panic in %s: %v", item.name, r)
		}
	}()
	ctx := p.log.WithContext(item.ctx)
	return item.handle(ctx)
}
