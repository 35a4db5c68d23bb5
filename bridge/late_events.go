package bridge

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
)

// Matrix events the homeserver pushes late, after newer ones.
//
// A homeserver that was stopped or crashed may push an event it stored just before, whose
// transaction the stop cut off, only well after its restart, behind events sent since. Dendrite
// does: its appservice consumer is a JetStream pull consumer (appservice/consumers/roomserver.go),
// and a message fetched but not acknowledged before the stop is redelivered only once its ack wait
// (NATS's default, 30 s) has run out, while new messages flow at once; with its event stream in
// memory (the default of its sample config) such a message is never pushed at all. Sending the
// newer event to WhatsApp first would break the room's order, or lose the older one.
//
// So for a while after the bridge saw the homeserver unreachable (lateEventWindow), before a room's
// event goes to WhatsApp, the room's latest events are read (as the bot, one /messages page): an
// event older than it that the inbox has not handled, and that is not older than the outage, is
// stored in the inbox (if it is not there yet) and handled first. When its transaction comes, the
// inbox drops it as a duplicate.

const (
	// lateEventWindow is how long after the homeserver was last seen unreachable events are
	// checked for older ones pushed late: Dendrite's redelivery after 30 s, plus its backoff
	// towards an appservice, which grows to 64 s while the bridge cannot take transactions.
	lateEventWindow = 2 * time.Minute
	// lateEventLookback is how far before the start of an outage an event may have been stored
	// and still be pushed late.
	lateEventLookback = time.Minute
	// lateEventPage is how many of a room's events one read returns, lateEventPages how many
	// reads look for the event being checked, lateEventTimeout how long they may take together.
	lateEventPage    = 50
	lateEventPages   = 4
	lateEventTimeout = 20 * time.Second
	// lateEventMargin: rows received this long before the outage was first noticed are checked
	// too (the homeserver may have stopped a little before the bridge noticed).
	lateEventMargin = 5 * time.Second
)

// homeserverOutages remembers when the homeserver was unreachable.
type homeserverOutages struct {
	lock sync.Mutex
	// start is the first failure of the latest outage, last its latest failure.
	start, last time.Time
}

// note records that a request to the homeserver got no answer (or 5xx) now.
func (o *homeserverOutages) note() {
	o.lock.Lock()
	defer o.lock.Unlock()
	now := time.Now()
	if o.last.IsZero() || now.Sub(o.last) > lateEventWindow {
		o.start = now
	}
	o.last = now
}

// recent reports whether the homeserver was unreachable within lateEventWindow, since when events
// may have been pushed late (since), and when the outage was first noticed.
func (o *homeserverOutages) recent() (ok bool, since, start time.Time) {
	o.lock.Lock()
	defer o.lock.Unlock()
	if o.last.IsZero() || time.Since(o.last) > lateEventWindow {
		return false, time.Time{}, time.Time{}
	}
	return true, o.start.Add(-lateEventLookback), o.start
}

// noteHomeserverFailure records err, a failed request to the homeserver, when it means the
// homeserver was unreachable (hserr.Unanswered), and when it got no answer at all (or a gateway's
// 502-504) starts watching for its return (hsback.go).
func (br *Bridge) noteHomeserverFailure(err error) {
	if err != nil && hserr.Unanswered(err) {
		br.hsOutages.note()
		if homeserverDown(err) {
			br.probeUntilAnswered() // hsback.go
		}
	}
}

// lateEventsBefore returns the events of row's room that are older than row's event, not handled
// yet, and may have been pushed late by a homeserver that was unreachable lately, oldest first,
// each stored in the inbox with HandleBefore set, so that they go first also after a retry or a
// restart. rows are the room's pending rows of the drain (their HandleBefore is updated too).
//
// Only rows received since shortly before the outage began are checked: a row pushed earlier
// cannot have overtaken an event whose push the outage cut off (the homeserver pushes in order
// until then). retry reports that the check could not be made (the room or the inbox could not be
// read): row must wait, or it could overtake an event it cannot see yet. A row whose event is not
// among the room's latest lateEventPages pages is not checked.
func (br *Bridge) lateEventsBefore(ctx context.Context, row *database.InboxEvent, rows []*database.InboxEvent) (late []*database.InboxEvent, retry bool) {
	recent, since, outage := br.hsOutages.recent()
	if !recent || row.EventID == "" || row.ReceivedAt.Before(outage.Add(-lateEventMargin)) {
		return nil, false
	}
	log := zerolog.Ctx(ctx)
	order := row.Seq
	if row.HandleBefore != 0 {
		order = row.HandleBefore
	}
	older, found, err := br.eventsOlderThan(ctx, row, since)
	if err != nil && (hserr.Unanswered(err) || ctx.Err() != nil) {
		br.noteHomeserverFailure(err)
		log.Warn().Err(err).Msg("Could not read the room's latest events to look for events pushed late; waiting")
		return nil, true
	} else if err != nil {
		// Refused (e.g. the bot is not in the room): there is nothing the bot could check.
		log.Debug().Err(err).Msg("The room's latest events cannot be read; not looking for events pushed late")
		return nil, false
	} else if !found {
		return nil, false
	}
	var unknown, redacted []*database.InboxEvent
	for _, evt := range older { // newest first
		if evt.ID == "" || (evt.StateKey == nil && br.isBridgeUser(evt.Sender)) {
			continue // what a transaction would not store either: the bridge's own echoes
		}
		stored, err := br.DB.Inbox.GetByEventID(ctx, evt.ID)
		if err != nil {
			log.Warn().Err(err).Msg("Could not look up an event in the inbox while looking for events pushed late; waiting")
			return nil, true
		}
		switch {
		case stored == nil:
			evt.RoomID = row.RoomID
			raw, err := json.Marshal(evt)
			if err != nil {
				continue
			}
			l := &database.InboxEvent{EventID: evt.ID, RoomID: row.RoomID, Event: raw, HandleBefore: order}
			if evt.Unsigned.RedactedBecause != nil {
				// Deleted meanwhile: there is nothing to bridge, but its push, which carries
				// the content, must find it handled.
				redacted = append(redacted, l)
				continue
			}
			unknown = append(unknown, l)
			late = append(late, l)
		case stored.State == database.InboxPending && stored.Seq > row.Seq:
			// Pushed after row's event, not handled yet.
			if err = br.putBefore(ctx, stored, order, rows); err != nil {
				log.Warn().Err(err).Msg("Failed to record the order of an event pushed late; waiting")
				return nil, true
			}
			late = append(late, stored)
		}
	}
	if len(redacted) > 0 {
		if _, err = br.DB.Inbox.Enqueue(ctx, "", redacted); err != nil {
			log.Warn().Err(err).Msg("Failed to store deleted events the homeserver has not pushed yet; waiting")
			return nil, true
		}
		for _, evt := range redacted {
			if evt.Seq != 0 {
				if err = br.DB.Inbox.MarkDone(ctx, evt.Seq); err != nil {
					log.Warn().Err(err).Msg("Failed to mark a deleted event handled; waiting")
					return nil, true
				}
			}
		}
	}
	if len(late) == 0 {
		return nil, false
	}
	if len(unknown) > 0 {
		if _, err = br.storeInboxEvents(ctx, "", unknown); err != nil {
			log.Warn().Err(err).Msg("Failed to store events the homeserver has not pushed yet; waiting")
			return nil, true
		}
		for i, evt := range late {
			if evt.Seq != 0 {
				continue
			}
			// Pushed meanwhile, so not stored again: take the stored row, unless it was handled.
			stored, err := br.DB.Inbox.GetByEventID(ctx, evt.EventID)
			if err != nil || stored == nil {
				return nil, true
			}
			if stored.State == database.InboxPending {
				if err = br.putBefore(ctx, stored, order, rows); err != nil {
					log.Warn().Err(err).Msg("Failed to record the order of an event pushed late; waiting")
					return nil, true
				}
			}
			late[i] = stored
		}
		late = slices.DeleteFunc(late, func(evt *database.InboxEvent) bool { return evt.State != database.InboxPending })
		if len(late) == 0 {
			return nil, false
		}
	}
	slices.Reverse(late)
	ids := make([]string, len(late))
	for i, evt := range late {
		ids[i] = string(evt.EventID)
	}
	log.Info().Strs("late_event_ids", ids).Int("not_pushed_yet", len(unknown)).
		Msg("Older events of the room came late from the homeserver; bridging them first")
	return late, false
}

// putBefore makes the pending row stored go before order (HandleBefore): in the database, in stored
// and in the drain's copy of it among rows.
func (br *Bridge) putBefore(ctx context.Context, stored *database.InboxEvent, order int64, rows []*database.InboxEvent) error {
	if stored.HandleBefore == order {
		return nil
	}
	if err := br.DB.Inbox.SetHandleBefore(ctx, stored.Seq, order); err != nil {
		return err
	}
	stored.HandleBefore = order
	for _, r := range rows {
		if r.Seq == stored.Seq {
			r.HandleBefore = order
		}
	}
	return nil
}

// eventsOlderThan reads the room's latest events as the bot, page by page (up to lateEventPages),
// until it finds row's event, and returns the events older than it back to since, newest first.
// found is false when row's event was not among them.
func (br *Bridge) eventsOlderThan(ctx context.Context, row *database.InboxEvent, since time.Time) (older []*event.Event, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, lateEventTimeout)
	defer cancel()
	ctx = mautrix.WithMaxRetries(ctx, 0) // a failure makes the row wait; no need to retry here
	from := ""
	for range lateEventPages {
		resp, err := br.AS.BotClient().Messages(ctx, row.RoomID, from, "", mautrix.DirectionBackward, nil, lateEventPage)
		if err != nil {
			return nil, false, err
		}
		for _, evt := range resp.Chunk {
			if found {
				if evt.Timestamp < since.UnixMilli() {
					return older, true, nil
				}
				older = append(older, evt)
			} else if evt.ID == row.EventID {
				found = true
			}
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	return older, found, nil
}

// orderForHandling sorts a room's pending rows (in seq order) into the order they are handled in:
// a row with HandleBefore right before the row it names, otherwise by seq.
func orderForHandling(rows []*database.InboxEvent) []*database.InboxEvent {
	if !slices.ContainsFunc(rows, func(r *database.InboxEvent) bool { return r.HandleBefore != 0 }) {
		return rows
	}
	key := func(r *database.InboxEvent) (int64, int) {
		if r.HandleBefore != 0 {
			return r.HandleBefore, 0
		}
		return r.Seq, 1
	}
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b *database.InboxEvent) int {
		ak, al := key(a)
		bk, bl := key(b)
		return cmp.Or(cmp.Compare(ak, bk), cmp.Compare(al, bl), cmp.Compare(a.Seq, b.Seq))
	})
	return sorted
}
