package portal

import (
	"context"
	"errors"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// TestSettlementWithMessageMap: the settlement of a message bridged either way runs in the
// transaction that maps the message (it sees the row), a failing settlement undoes the mapping
// (the retry sends again with the same ID), and a settlement naming another event is left
// to its caller.
func TestSettlementWithMessageMap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)

	// Matrix -> WhatsApp: the mark fails once, then succeeds.
	evt := mxText(roomID, "$hi", "hi there")
	marks := 0
	failMark := true
	s := NewSettlement(evt.ID.String(), func(ctx context.Context) error {
		marks++
		if msg, err := e.db.Message.GetByMXID(ctx, evt.ID); err != nil || msg == nil {
			t.Errorf("settlement does not see the message map row (%v)", err)
		}
		if failMark {
			return errors.New("inbox is gone")
		}
		return nil
	})
	ctx := WithSettlement(e.ctx, s)
	if _, err := e.m.HandleMatrixEvent(ctx, evt); err == nil || s.Settled() {
		t.Fatalf("failing settlement gave err=%v settled=%t, want an error and not settled", err, s.Settled())
	}
	if msg, err := e.db.Message.GetByMXID(e.ctx, evt.ID); err != nil || msg != nil {
		t.Fatalf("message mapped although its settlement failed: %+v (%v)", msg, err)
	}
	failMark = false
	if _, err := e.m.HandleMatrixEvent(ctx, evt); err != nil || !s.Settled() {
		t.Fatalf("retry gave err=%v settled=%t", err, s.Settled())
	}
	sends := e.cli.sent()
	if marks != 2 || len(sends) != 2 || sends[0].id != sends[1].id {
		t.Fatalf("%d marks and sends %+v, want 2 marks and two sends with one ID", marks, sends)
	}

	// A settlement for another event is not run.
	other := NewSettlement("$other", func(context.Context) error {
		t.Error("settlement of another event ran")
		return nil
	})
	if _, err := e.m.HandleMatrixEvent(WithSettlement(e.ctx, other), mxText(roomID, "$second", "again")); err != nil || other.Settled() {
		t.Fatalf("message with another event's settlement gave err=%v settled=%t", err, other.Settled())
	}

	// WhatsApp -> Matrix: the message's last part settles it.
	waMarks := 0
	key := e.portal(testContact).Key
	wa := NewSettlement("M2", func(ctx context.Context) error {
		waMarks++
		parts, err := e.db.Message.GetByWAID(ctx, key, "M2")
		if err != nil || len(parts) != 1 {
			t.Errorf("settlement sees %d parts of M2 (%v)", len(parts), err)
		}
		return nil
	})
	if err := e.m.HandleWhatsAppMessage(WithSettlement(e.ctx, wa), e.login, waText(testContact, testContact, "M2", "hello again")); err != nil {
		t.Fatal(err)
	}
	if waMarks != 1 || !wa.Settled() {
		t.Fatalf("WhatsApp message settled %d times (settled=%t), want once", waMarks, wa.Settled())
	}
	// A repeat is a duplicate: nothing is written, the caller settles it.
	again := NewSettlement("M2", func(context.Context) error {
		t.Error("duplicate settled by the portal")
		return nil
	})
	if err := e.m.HandleWhatsAppMessage(WithSettlement(e.ctx, again), e.login, waText(testContact, testContact, "M2", "hello again")); err != nil || again.Settled() {
		t.Fatalf("duplicate gave err=%v settled=%t", err, again.Settled())
	}
}

// TestSettlementAsStatement: a settlement given as a statement is carried by the message map
// insert: the inbox row is handled with the message, in either direction, and not before.
func TestSettlementAsStatement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roomID := dmRoom(t, e)
	key := e.portal(testContact).Key

	row := &database.WhatsAppInboxEvent{User: "@alice:example.org", Portal: key, Kind: "message", Version: 1, WAID: "M9", Payload: []byte(`{}`)}
	if err := e.db.WAInbox.Enqueue(e.ctx, row, nil); err != nil {
		t.Fatal(err)
	}
	wa := NewSettlement("M9", func(context.Context) error {
		t.Error("the closure ran although the statement settles the message")
		return nil
	}).WithStatement(e.db.WAInbox.MarkDoneStatement(row.Seq))
	if err := e.m.HandleWhatsAppMessage(WithSettlement(e.ctx, wa), e.login, waText(testContact, testContact, "M9", "settled in one go")); err != nil {
		t.Fatal(err)
	}
	got, err := e.db.WAInbox.Get(e.ctx, row.Seq)
	if err != nil || !wa.Settled() || got != nil {
		t.Fatalf("WhatsApp message: settled %t, row %+v (%v); want settled and the row deleted", wa.Settled(), got, err)
	}

	evt := mxText(roomID, "$stmt", "from Matrix")
	if _, err = e.db.Inbox.Enqueue(e.ctx, "txn-stmt", []*database.InboxEvent{{EventID: evt.ID, RoomID: roomID, Event: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	in, err := e.db.Inbox.GetByEventID(e.ctx, evt.ID)
	if err != nil || in == nil {
		t.Fatalf("inbox row: %+v (%v)", in, err)
	}
	mx := NewSettlement(evt.ID.String(), func(context.Context) error {
		t.Error("the closure ran although the statement settles the event")
		return nil
	}).WithStatement(e.db.Inbox.MarkDoneStatement(in.Seq))
	if _, err = e.m.HandleMatrixEvent(WithSettlement(e.ctx, mx), evt); err != nil {
		t.Fatal(err)
	}
	if in, err = e.db.Inbox.Get(e.ctx, in.Seq); err != nil || !mx.Settled() || in.State != database.InboxDone {
		t.Fatalf("Matrix message: settled %t, row %+v (%v); want settled and done", mx.Settled(), in, err)
	}
	if msg, err := e.db.Message.GetByMXID(e.ctx, evt.ID); err != nil || msg == nil {
		t.Fatalf("Matrix message not mapped: %v", err)
	}
}
