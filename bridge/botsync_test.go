package bridge

import (
	"testing"
	"time"
)

func TestRoomActivity(t *testing.T) {
	var a roomActivity
	if a.busy() {
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
	a.touch()
	select {
	case <-woken:
	default:
		t.Fatal("a transaction did not end the wait")
	}
	if !a.busy() {
		t.Fatal("not busy right after a transaction")
	}
	// A wait begun after the transaction waits for the next one.
	if next := a.next(); next == woken {
		t.Fatal("the next wait reuses the closed channel")
	}
	a.last.Store(time.Now().Add(-botSyncBusyFor - time.Second).UnixNano())
	if a.busy() {
		t.Fatal("still busy botSyncBusyFor after the last transaction")
	}
}
