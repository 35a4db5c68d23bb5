package portal

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func testPortal(ctx context.Context) *Portal {
	m := &Manager{ctx: ctx, log: zerolog.Nop()}
	p := &Portal{m: m, queue: make(chan *queueItem, 128), log: zerolog.Nop()}
	m.wg.Add(1)
	go p.loop()
	return p
}

// TestQueueKeepsOrder: events handed to a portal from many goroutines run one at a time, in the
// order they were enqueued by each caller, and each caller gets its own result.
func TestQueueKeepsOrder(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := testPortal(ctx)
	var mu sync.Mutex
	running, maxRunning := 0, 0
	seen := map[int][]int{}
	var wg sync.WaitGroup
	for caller := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				err := p.run(ctx, "test", func(context.Context) error {
					mu.Lock()
					running++
					maxRunning = max(maxRunning, running)
					seen[caller] = append(seen[caller], i)
					mu.Unlock()
					time.Sleep(time.Millisecond)
					mu.Lock()
					running--
					mu.Unlock()
					if i == 7 {
						return errors.New("seven")
					}
					return nil
				})
				if (i == 7) != (err != nil) {
					t.Errorf("caller %d item %d got error %v", caller, i, err)
				}
			}
		}()
	}
	wg.Wait()
	if maxRunning != 1 {
		t.Errorf("%d handlers ran at once, want 1", maxRunning)
	}
	for caller, items := range seen {
		for i, item := range items {
			if item != i {
				t.Fatalf("caller %d's items ran as %v", caller, items)
			}
		}
	}
}

// TestQueueRecoversPanics: a panicking handler becomes an error for its caller and the portal keeps
// working.
func TestQueueRecoversPanics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := testPortal(ctx)
	err := p.run(ctx, "boom", func(context.Context) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic in boom") {
		t.Fatalf("panic gave %v", err)
	}
	if err = p.run(ctx, "after", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("portal stopped working after a panic: %v", err)
	}
}

// TestQueueStopsWithBridge: once the bridge's context ends the loop exits, and callers get an error
// instead of blocking.
func TestQueueStopsWithBridge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := testPortal(ctx)
	cancel()
	p.m.Wait()
	err := p.run(context.Background(), "late", func(context.Context) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run after stop returned %v, want context.Canceled", err)
	}
}
