package portal

import (
	"fmt"
	"slices"
	"testing"
)

// TestEarlyDuplicateCheck: a WhatsApp message's duplicate check answered before the portal handled
// it (as the WhatsApp inbox answers it when storing the message) decides while nothing that could
// have changed the answer happened in the portal; once the same message was bridged in between, or
// an event of another kind ran, the portal asks the database again, so a message WhatsApp
// delivered twice still shows once.
func TestEarlyDuplicateCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustWA(e, waText(testContact, testContact, "FIRST", "first"))
	p := e.portal(testContact)
	sent := func() []string { return summaries(e.mx.callsOf("SendEvent")) }
	checkpoint := func() IncomingCheckpoint {
		t.Helper()
		cp, ok := e.m.IncomingCheckpoint(p.Key)
		if !ok {
			t.Fatal("no checkpoint for a loaded portal")
		}
		return cp
	}
	handle := func(k KnownIncoming, id, text string) {
		t.Helper()
		if err := e.m.HandleWhatsAppMessage(WithKnownIncoming(e.ctx, k), e.login, waText(testContact, testContact, id, text)); err != nil {
			t.Fatal(err)
		}
	}

	// Both copies of a message were stored before either was handled: both answers said "not
	// bridged". The first copy is bridged; the second one's answer no longer holds.
	cp := checkpoint()
	first, second := cp.Answer("TWICE", false, nil), cp.Answer("TWICE", false, nil)
	handle(first, "TWICE", "twice")
	handle(second, "TWICE", "twice")
	if got := sent(); !slices.Equal(got, []string{"m.room.message:first", "m.room.message:twice"}) {
		t.Fatalf("sent %q, want the message delivered twice once", got)
	}

	// An answer still holds after other messages were handled: here it says "bridged" (which
	// the database does not), and the portal goes by it.
	cp = checkpoint()
	mustWA(e, waText(testContact, testContact, "OTHER", "other"))
	handle(cp.Answer("TOLD", true, nil), "TOLD", "told bridged")
	if got := sent(); len(got) != 3 || got[2] != "m.room.message:other" {
		t.Fatalf("sent %q, want the early answer to hold past another message", got)
	}

	// An event of another kind (here from Matrix) may have changed the message map for any ID:
	// the answer is not used, the database says the message is new.
	cp = checkpoint()
	mustMX(e, mxText(p.MXID(), "$from-matrix", "from Matrix"))
	handle(cp.Answer("AFTER", true, nil), "AFTER", "after a Matrix event")
	if got := sent(); len(got) != 4 || got[3] != "m.room.message:after a Matrix event" {
		t.Fatalf("sent %q, want the message bridged after the database was asked again", got)
	}

	// An answer about another message is not used either.
	other := checkpoint().Answer("ELSE", true, nil)
	handle(other, "NOT-ELSE", "another message")
	if got := sent(); len(got) != 5 {
		t.Fatalf("sent %q, want an answer about another message ignored", got)
	}
}

// TestFinishedLogForgets: an early answer holds across as many finished events about other
// messages as the log keeps, and no further.
func TestFinishedLogForgets(t *testing.T) {
	t.Parallel()
	var l finishedLog
	l.note("BEFORE")
	mark := l.mark()
	for i := range finishedLogSize {
		l.note(fmt.Sprintf("OTHER-%d", i))
	}
	if !l.untouched(mark, "MINE") {
		t.Fatalf("answer unused after %d events about other messages", finishedLogSize)
	}
	if l.untouched(mark, "OTHER-7") {
		t.Fatal("answer used after an event about the same message")
	}
	l.note("ONE-MORE")
	if l.untouched(mark, "MINE") {
		t.Fatalf("answer used after %d events, more than the log keeps", finishedLogSize+1)
	}
}
