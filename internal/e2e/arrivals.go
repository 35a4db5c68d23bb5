package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Arrivals records when each message body first arrived somewhere (an appservice, a simulator
// contact) and lets a benchmark wait for a set of bodies. The zero value is ready to use; it is
// safe for concurrent use.
type Arrivals struct {
	lock    sync.Mutex
	arrived map[string]time.Time
	changed chan struct{} // closed and replaced on every Record
}

// Record notes that bodies arrived at `at`; a body that arrived before keeps its first time.
func (a *Arrivals) Record(at time.Time, bodies ...string) {
	a.lock.Lock()
	if a.arrived == nil {
		a.arrived = make(map[string]time.Time)
	}
	for _, body := range bodies {
		if _, seen := a.arrived[body]; !seen {
			a.arrived[body] = at
		}
	}
	changed := a.changed
	a.changed = make(chan struct{})
	a.lock.Unlock()
	if changed != nil {
		close(changed)
	}
}

// Wait blocks until every body arrived and returns the arrival times in the same order. When ctx
// ends first it fails naming how many did not reach where (e.g. "the probe appservice").
func (a *Arrivals) Wait(ctx context.Context, bodies []string, where string) ([]time.Time, error) {
	times := make([]time.Time, len(bodies))
	for {
		a.lock.Lock()
		missing := 0
		for i, body := range bodies {
			at, ok := a.arrived[body]
			if !ok {
				missing++
			}
			times[i] = at
		}
		if a.changed == nil {
			a.changed = make(chan struct{})
		}
		changed := a.changed
		a.lock.Unlock()
		if missing == 0 {
			return times, nil
		}
		select {
		case <-ctx.Done():
			return times, fmt.Errorf("%d of %d messages never reached %s: %w", missing, len(bodies), where, ctx.Err())
		case <-changed:
		}
	}
}
