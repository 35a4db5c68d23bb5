package portal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/puppet"
)

// queuedBody enqueues an event whose handler runs body: a group avatar update whose picture
// download is body. Each call's picture is new, so every handler gets as far as body.
type queuedBody struct {
	seq atomic.Int64
}

func (q *queuedBody) run(ctx context.Context, p *Portal, body func() error) error {
	n := q.seq.Add(1)
	login := &fakeLogin{mxid: testUser, jid: testOwnJID, avatar: func(context.Context) (*puppet.Avatar, error) {
		return &puppet.Avatar{ID: fmt.Sprint("picture", n), Fetch: func(context.Context) ([]byte, error) {
			return []byte("\x89PNG"), body()
		}}, nil
	}}
	return p.run(ctx, &avatarEvent{login: login})
}

// groupPortal returns the portal of the test group with its room created.
func groupPortal(t *testing.T, e *env) *Portal {
	t.Helper()
	e.cli.group = &types.GroupInfo{JID: testGroup, GroupName: types.GroupName{Name: "Test group"}}
	p := e.portal(testGroup)
	if err := p.run(e.ctx, &ensureRoomEvent{login: e.login}); err != nil {
		t.Fatalf("failed to create group room: %v", err)
	}
	return p
}

// TestQueueKeepsOrder: events handed to a portal from many goroutines run one at a time, in the
// order they were enqueued by each caller, and each caller gets its own result.
func TestQueueKeepsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := groupPortal(t, e)
	var q queuedBody
	var mu sync.Mutex
	running, maxRunning := 0, 0
	seen := map[int][]int{}
	var wg sync.WaitGroup
	for caller := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				err := q.run(e.ctx, p, func() error {
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
	e := newEnv(t)
	p := groupPortal(t, e)
	var q queuedBody
	err := q.run(e.ctx, p, func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic in group avatar: boom") {
		t.Fatalf("panic gave %v", err)
	}
	if err = q.run(e.ctx, p, func() error { return nil }); err != nil {
		t.Fatalf("portal stopped working after a panic: %v", err)
	}
}

// TestQueueStopsWithBridge: once the bridge's context ends the loop exits, and callers get an error
// instead of blocking.
func TestQueueStopsWithBridge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.portal(testGroup)
	e.stop()
	e.m.Wait()
	var q queuedBody
	err := q.run(context.Background(), p, func() error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run after stop returned %v, want context.Canceled", err)
	}
}
