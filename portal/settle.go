package portal

import (
	"context"
	"sync/atomic"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
)

// Settling an event with the portal's last write for it.
//
// An event from either side stays in its durable inbox until it reached the other side; the inbox
// then marks its row handled. Where a handler's last step is a database write (the message map
// row of a message bridged either way), the inbox's mark goes into the same database transaction:
// one commit instead of several, and no moment at which the message is mapped but its row still
// pending. The caller puts a Settlement into the ctx of the event; the portal runs it inside the
// transaction of that last write, and only for the event it names, so that a handler which
// bridges something else on the way (a room to create, an earlier message) never settles the
// event early. After the handler returned, Settled says whether the mark was committed; if not,
// the caller marks the row itself.

type settlementKey struct{}

// Settlement marks one inbox event handled inside the transaction of the portal's last write for
// that event. It is safe to read from the caller while the portal goroutine settles it.
type Settlement struct {
	eventID string
	mark    func(ctx context.Context) error
	// stmt, when set, is mark as one SQL statement, which a message map insert carries along
	// (database.MessageQuery.InsertWith).
	stmt    *database.Statement
	settled atomic.Bool
}

// NewSettlement returns a settlement for the event named eventID (a Matrix event ID, or a WhatsApp
// message ID) that runs mark, with the transaction in its ctx, when the portal writes the event's
// outcome.
func NewSettlement(eventID string, mark func(ctx context.Context) error) *Settlement {
	return &Settlement{eventID: eventID, mark: mark}
}

// WithStatement tells the portal that the settlement's mark is stmt, a single SQL statement, so
// that the message map insert that settles the event can carry it: on PostgreSQL one statement
// (one round trip) instead of BEGIN, the insert, the mark and COMMIT. It returns s.
func (s *Settlement) WithStatement(stmt database.Statement) *Settlement {
	s.stmt = &stmt
	return s
}

// WithSettlement returns ctx carrying s for the handlers of the event s names.
func WithSettlement(ctx context.Context, s *Settlement) context.Context {
	return context.WithValue(ctx, settlementKey{}, s)
}

// Settled reports whether the event's mark was committed together with the portal's write.
func (s *Settlement) Settled() bool {
	return s.settled.Load()
}

// pending returns the settlement ctx carries for the event named eventID if it has not been settled
// yet, or nil.
func pending(ctx context.Context, eventID string) *Settlement {
	s, _ := ctx.Value(settlementKey{}).(*Settlement)
	if s == nil || s.eventID != eventID || s.settled.Load() {
		return nil
	}
	return s
}

// insertOutcome stores row, the message map row that is the last database write of the event
// named eventID, settling the event with it like writeOutcome; a settlement given as a statement
// goes into the insert itself, which may be held for a later statement to carry
// (database.MessageQuery.InsertHeld).
func (p *Portal) insertOutcome(ctx context.Context, eventID string, row *database.Message) error {
	s := pending(ctx, eventID)
	if s == nil || s.stmt == nil {
		return p.writeOutcome(ctx, eventID, func(ctx context.Context) error { return p.m.db.Message.Insert(ctx, row) })
	}
	if err := p.m.db.Message.InsertHeld(ctx, row, *s.stmt); err != nil {
		return err
	}
	s.settled.Store(true)
	return nil
}

// writeOutcome runs write, the last database write of the event named eventID, in one transaction
// with the event's settlement when ctx carries one for that event that has not been settled yet;
// otherwise it runs write on its own.
func (p *Portal) writeOutcome(ctx context.Context, eventID string, write func(ctx context.Context) error) error {
	s := pending(ctx, eventID)
	if s == nil {
		return write(ctx)
	}
	// Inside the transaction held message map rows are not written (database/held.go): this
	// portal's go in first.
	if err := p.m.db.FlushHeld(ctx); err != nil {
		return err
	}
	err := p.m.db.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		if err := write(ctx); err != nil {
			return err
		}
		return s.mark(ctx)
	})
	if err == nil {
		s.settled.Store(true)
	}
	return err
}
