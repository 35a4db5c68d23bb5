package bridge

import (
	"slices"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestOrderForHandling: a row pushed late goes right before the row it was found older than, also
// when it was stored after later rows; the rest keep their arrival order.
func TestOrderForHandling(t *testing.T) {
	rows := []*database.InboxEvent{{Seq: 1}, {Seq: 2}, {Seq: 3}, {Seq: 4, HandleBefore: 2}, {Seq: 5, HandleBefore: 2}, {Seq: 6}}
	var got []int64
	for _, r := range orderForHandling(rows) {
		got = append(got, r.Seq)
	}
	if want := []int64{1, 4, 5, 2, 3, 6}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestHomeserverOutageWindow: events are checked for late pushes from the first failure of an
// outage until lateEventWindow after its last one, and a failure after a quiet spell starts a new
// outage.
func TestHomeserverOutageWindow(t *testing.T) {
	var o homeserverOutages
	if ok, _, _ := o.recent(); ok {
		t.Fatal("a homeserver never seen down counts as recently down")
	}
	o.note()
	ok, since, start := o.recent()
	if !ok || since.After(start) || start.Sub(since) != lateEventLookback {
		t.Fatalf("right after a failure: recent %v, since %v, start %v", ok, since, start)
	}
	o.last = time.Now().Add(-lateEventWindow - time.Second) // the last failure is old
	if ok, _, _ = o.recent(); ok {
		t.Fatal("still checking long after the last failure")
	}
	o.note()
	if _, _, newStart := o.recent(); !newStart.After(start) {
		t.Error("a failure after a quiet spell did not start a new outage")
	}
}
