package portal

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// The portal queue.
//
//	WhatsApp inbox worker (per portal) ──┐
//	                                     ├──> Portal.queue ──> Portal.loop (one goroutine) ──> Matrix / WhatsApp
//	Matrix room worker (per room) ───────┘
//
// Events from both sides go through one channel and are handled one at a time, in the order they
// were enqueued. An event is a value of one of the types listed in events.go (a closed set: the
// loop switches on the type, so every kind a portal handles is visible in one place). The caller
// waits for the result, so an event leaves its durable inbox (the WhatsApp inbox for WhatsApp
// events, the Matrix inbox for Matrix events) only after it reached the other side, and a crash
// before that makes the inbox hand it over again after the restart.
// Two bridge users in one group deliver the same WhatsApp message twice; the second copy finds the
// message already mapped and is dropped, which is only safe because the inserts happen in this one
// goroutine, and a check answered before the copy reached it is used only while no event that may
// have mapped the same message finished in between (incoming.go).
//
// The portal's row (room ID, name, avatar...) is read and written only by the loop. Code outside
// it (receipts, typing) reads the room ID through Portal.MXID.
//
// Each handler logs with the caller's logger (user, event or message ID) plus the portal's fields,
// built when the handler starts. A handler that takes longer than slowHandlerWarning is logged (the
// watchdog, which uses that same logger and nothing of the portal) but not abandoned, since
// abandoning it would break the order.

const slowHandlerWarning = 30 * time.Second

type queueItem struct {
	ctx  context.Context
	evt  portalEvent
	done chan error
}

// run enqueues evt and waits for its result. It fails when ctx ends or the bridge stops before the
// portal got to it; the caller then treats the event as not handled (it will come again).
func (p *Portal) run(ctx context.Context, evt portalEvent) error {
	item := &queueItem{ctx: ctx, evt: evt, done: make(chan error, 1)}
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
			err := p.handleItem(item)
			p.finished.note(finishedAbout(item.evt)) // incoming.go
			item.done <- err
		}
	}
}

// handleItem runs the handler of one queued event with a watchdog and turns a panic into an error.
func (p *Portal) handleItem(item *queueItem) (err error) {
	if item.ctx.Err() != nil {
		return item.ctx.Err()
	}
	name := item.evt.kind()
	log := p.handlerLogger(item.ctx)
	start := time.Now()
	watchdog := time.AfterFunc(p.m.slowHandler, func() {
		log.Warn().Str("handler", name).Dur("running_for", time.Since(start)).Msg("Portal handler is taking long")
	})
	defer watchdog.Stop()
	defer func() {
		if r := recover(); r != nil {
			log.Error().Str("handler", name).Any("panic", r).Str("stack", string(debug.Stack())).Msg("Panic in portal handler")
			err = fmt.Errorf("panic in %s: %v", name, r)
		}
	}()
	return p.handle(log.WithContext(item.ctx), item.evt)
}

// handlerLogger returns the caller's logger (the manager's when the caller's ctx has none) with
// the portal's fields added. It reads the row, so only the portal goroutine calls it.
func (p *Portal) handlerLogger(ctx context.Context) zerolog.Logger {
	base := zerolog.Ctx(ctx)
	if base.GetLevel() == zerolog.Disabled {
		base = &p.m.log
	}
	with := base.With().Str("portal_jid", p.Key.JID.String()).Str("portal_receiver", p.Key.Receiver.String())
	if p.row.MXID != "" {
		with = with.Stringer("portal_mxid", p.row.MXID)
	}
	return with.Logger()
}
