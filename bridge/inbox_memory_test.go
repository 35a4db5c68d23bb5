package bridge

import (
	"errors"
	"slices"
	"testing"
	"time"
)

type memRow struct{ seq int64 }

func newTestMemory() *inboxMemory[string, *memRow] {
	return newInboxMemory[string](func(r *memRow) int64 { return r.seq })
}

func seqsOf(rows []*memRow) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.seq)
	}
	return out
}

// storeForTest adds rows the way a store path does.
func (m *inboxMemory[K, R]) storeForTest(key K, rows ...R) {
	done := m.storing()
	defer done()
	for _, row := range rows {
		m.add(key, row)
	}
}

// TestInboxMemoryTrustedOnlyAfterAFullDrain: a room's rows come from the database until a drain
// read them there and handled them all; rows stored from that read on are then served from memory
// in seq order, each until it is handled.
func TestInboxMemoryTrustedOnlyAfterAFullDrain(t *testing.T) {
	m := newTestMemory()
	m.storeForTest("room", &memRow{1}) // before any read: the database has it, memory ignores it
	dbRows := []*memRow{{1}}
	rows, fromMemory, epoch, err := m.pending("room", func() ([]*memRow, error) { return dbRows, nil })
	if err != nil || fromMemory || !slices.Equal(seqsOf(rows), []int64{1}) {
		t.Fatalf("first drain: rows %v from memory %v, err %v; want row 1 from the database", seqsOf(rows), fromMemory, err)
	}
	m.storeForTest("room", &memRow{3}, &memRow{2}) // while the first drain works
	m.handled("room", 1)
	m.finish("room", fromMemory, epoch, false)

	noRead := func() ([]*memRow, error) {
		t.Fatal("read the database although memory holds every row")
		return nil, nil
	}
	rows, fromMemory, epoch, _ = m.pending("room", noRead)
	if !fromMemory || !slices.Equal(seqsOf(rows), []int64{2, 3}) {
		t.Fatalf("second drain: rows %v from memory %v; want 2, 3 from memory", seqsOf(rows), fromMemory)
	}
	m.handled("room", 2) // 3 stays pending (e.g. the homeserver is down)
	m.finish("room", fromMemory, epoch, true)
	rows, fromMemory, _, _ = m.pending("room", noRead)
	if !fromMemory || !slices.Equal(seqsOf(rows), []int64{3}) {
		t.Fatalf("after a retry: rows %v from memory %v; want 3 from memory", seqsOf(rows), fromMemory)
	}
	if _, fromMemory, _, _ = m.pending("other", func() ([]*memRow, error) { return nil, nil }); fromMemory {
		t.Fatal("another room was served from memory before its first read")
	}
}

// TestInboxMemoryFallsBackToTheDatabase: a drain from the database that stopped early, a failed
// read and a room over its limit all leave the room to the database.
func TestInboxMemoryFallsBackToTheDatabase(t *testing.T) {
	m := newTestMemory()
	reads := 0
	read := func() ([]*memRow, error) { reads++; return []*memRow{{1}}, nil }
	_, fromMemory, epoch, _ := m.pending("room", read)
	m.storeForTest("room", &memRow{2})
	m.finish("room", fromMemory, epoch, true) // row 1 stays pending
	if _, fromMemory, _, _ = m.pending("room", read); fromMemory || reads != 2 {
		t.Fatalf("after an early stop the room came from memory (%d reads)", reads)
	}

	if _, _, _, err := m.pending("room", func() ([]*memRow, error) { return nil, errors.New("db down") }); err == nil {
		t.Fatal("a failed read was not reported")
	}

	// An event set pending again in the database (a room key arrived) sends the room back to it.
	m = newTestMemory()
	_, fromMemory, epoch, _ = m.pending("room", func() ([]*memRow, error) { return nil, nil })
	m.finish("room", fromMemory, epoch, false)
	done := m.storing()
	m.forget("room")
	done()
	if rows, fromMemory, _, _ := m.pending("room", func() ([]*memRow, error) { return []*memRow{{7}}, nil }); fromMemory || len(rows) != 1 {
		t.Fatalf("after forget: rows %v from memory %v; want row 7 from the database", seqsOf(rows), fromMemory)
	}

	m = newTestMemory()
	m.roomLimit = 3
	_, fromMemory, epoch, _ = m.pending("room", func() ([]*memRow, error) { return nil, nil })
	m.finish("room", fromMemory, epoch, false)
	m.storeForTest("room", &memRow{1}, &memRow{2}, &memRow{3}, &memRow{4})
	rows, fromMemory, _, _ := m.pending("room", func() ([]*memRow, error) {
		return []*memRow{{1}, {2}, {3}, {4}}, nil
	})
	if fromMemory || len(rows) != 4 || m.total != 0 {
		t.Fatalf("a room over its limit: rows %v from memory %v, %d kept; want all four from the database", seqsOf(rows), fromMemory, m.total)
	}
}

// TestInboxMemoryReadWaitsForStores: a read of the database waits until every store that began
// before it has added its rows, so that no row is both missing from the read and ignored by memory.
func TestInboxMemoryReadWaitsForStores(t *testing.T) {
	m := newTestMemory()
	_, fromMemory, epoch, _ := m.pending("room", func() ([]*memRow, error) { return nil, nil })
	m.finish("room", fromMemory, epoch, true) // not trusted: the next drain reads

	done := m.storing() // a store has inserted row 1 but not added it yet
	readAt := make(chan time.Time, 1)
	go func() {
		_, _, _, _ = m.pending("room", func() ([]*memRow, error) { readAt <- time.Now(); return []*memRow{{1}}, nil })
	}()
	time.Sleep(100 * time.Millisecond)
	m.add("room", &memRow{1})
	addedAt := time.Now()
	done()
	if at := <-readAt; at.Before(addedAt) {
		t.Fatal("the database was read while a store was still adding its rows")
	}
}

// TestInboxMemoryRowHandledOutOfTurn: a row a worker found in the database and handled ahead of
// its turn (an event the homeserver pushed late) before its store added it to memory is not
// served again when that store adds it; one already in memory leaves it.
func TestInboxMemoryRowHandledOutOfTurn(t *testing.T) {
	m := newTestMemory()
	_, fromMemory, epoch, _ := m.pending("room", func() ([]*memRow, error) { return nil, nil })
	m.finish("room", fromMemory, epoch, false) // memory holds all of the room's rows from now on
	m.storeForTest("room", &memRow{5})
	m.handledOutOfTurn("room", 5) // in memory: removed
	m.handledOutOfTurn("room", 6) // committed, but its store has not added it yet
	m.storeForTest("room", &memRow{6}, &memRow{7})
	rows, fromMemory, _, _ := m.pending("room", func() ([]*memRow, error) {
		t.Fatal("read the database although memory holds every row")
		return nil, nil
	})
	if !fromMemory || !slices.Equal(seqsOf(rows), []int64{7}) {
		t.Fatalf("rows %v from memory %v; want only 7 (5 and 6 were handled)", seqsOf(rows), fromMemory)
	}
}
