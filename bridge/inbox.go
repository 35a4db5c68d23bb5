package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// maxInboxAttempts is how often a Matrix event is tried before it is given up with a visible notice.
const maxInboxAttempts = 5

// inboxRetryDelay is how long a room waits before its events whose handling failed are retried.
const inboxRetryDelay = 2 * time.Second

// wakeInbox tells the inbox dispatcher that rooms may have pending events. It never blocks; wake-ups
// that come while one is pending are merged.
func (br *Bridge) wakeInbox() {
	select {
	case br.inboxWake <- struct{}{}:
	default:
	}
}

// runInbox is the inbox dispatcher. On every wake-up it hands each room with pending events to the
// room pool, whose workers handle a room's events in the order they were received (an event that
// fails is retried before any later event of the same room, so a room's order is never broken)
// while rooms proceed independently of each other. It returns when the bridge stops, after every
// worker has finished.
func (br *Bridge) runInbox() {
	defer br.wg.Done()
	ctx := br.ctx
	pool := newRoomPool(ctx, br.Config.Bridge.MatrixRoomWorkers, inboxRetryDelay, br.drainRoom)
	defer pool.wait()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	br.pruneHandled(ctx)
	var retryC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-br.inboxWake:
		case <-retryC:
		case <-prune.C:
			br.pruneHandled(ctx)
			continue
		}
		retryC = nil
		if !br.scheduleInbox(ctx, pool) {
			retryC = time.After(inboxRetryDelay)
		}
	}
}

// Handled inbox rows, processed transaction IDs and sent outbox rows are kept for keepHandled, long
// enough for any homeserver retry, then deleted so that the tables do not grow forever.
const (
	keepHandled   = 7 * 24 * time.Hour
	pruneInterval = time.Hour
)

func (br *Bridge) pruneHandled(ctx context.Context) {
	inbox, err1 := br.DB.Inbox.Prune(ctx, keepHandled)
	txns, err2 := br.DB.Txn.Prune(ctx, keepHandled)
	outbox, err3 := br.DB.Outbox.Prune(ctx, keepHandled)
	if err := errors.Join(err1, err2, err3); err != nil && ctx.Err() == nil {
		br.Log.Warn().Err(err).Msg("Failed to prune handled events")
		return
	}
	if inbox+txns+outbox > 0 {
		br.Log.Debug().Int64("inbox", inbox).Int64("txns", txns).Int64("outbox", outbox).Msg("Pruned handled events")
	}
}

// scheduleInbox hands every room with pending events to the pool. It reports false when the inbox
// could not be read and must be read again later.
func (br *Bridge) scheduleInbox(ctx context.Context, pool *roomPool) bool {
	rooms, err := br.DB.Inbox.PendingRooms(ctx)
	if err != nil {
		if ctx.Err() == nil {
			br.Log.Err(err).Msg("Failed to read the Matrix inbox")
		}
		return false
	}
	for _, roomID := range rooms {
		pool.schedule(roomID)
	}
	return true
}

// drainRoom handles a room's pending events in order, stopping at the first one that must be
// retried, and reports whether there is one. It is the pool's roomDrainFunc.
func (br *Bridge) drainRoom(ctx context.Context, roomID id.RoomID) (retry bool) {
	rows, err := br.DB.Inbox.Pending(ctx, roomID)
	if err != nil {
		if ctx.Err() == nil {
			br.Log.Err(err).Stringer("room_id", roomID).Msg("Failed to read the Matrix inbox")
		}
		return true
	}
	for _, row := range rows {
		br.inboxActivity.touch()
		if ctx.Err() != nil || !br.handleInboxRow(ctx, row) {
			return true
		}
	}
	return false
}

// handleInboxRow handles one stored event and records the outcome. It returns false when the event
// stays pending for a retry.
func (br *Bridge) handleInboxRow(ctx context.Context, row *database.InboxEvent) bool {
	log := br.Log.With().Stringer("event_id", row.EventID).Stringer("room_id", row.RoomID).Logger()
	ctx = log.WithContext(ctx)
	err := br.handleRawEvent(ctx, row.Event)
	if err == nil {
		if err = br.DB.Inbox.MarkDone(ctx, row.Seq); err != nil {
			log.Err(err).Msg("Failed to mark inbox event as handled")
			return false
		}
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, portal.ErrNotConnected) {
		// Not an attempt: the event waits (in order) for the WhatsApp connection, however long
		// the outage lasts, and is retried when the user is connected again.
		log.Debug().Msg("Matrix event waits for the WhatsApp connection")
		if br.notePending(row.RoomID) {
			br.sendBotNotice(ctx, row.RoomID, "WhatsApp is not reachable right now. Your messages are kept and will be delivered in order as soon as the connection is back.")
		}
		return false
	}
	var told toldError
	if errors.As(err, &told) {
		// Retrying cannot help and the room was told why: the event failed for good.
		br.metrics.Failed(metrics.MatrixToWhatsApp, metrics.ReasonRefused)
		if dbErr := br.DB.Inbox.MarkFailed(ctx, row.Seq, told.err); dbErr != nil {
			log.Err(dbErr).Msg("Failed to mark inbox event as failed")
			return false
		}
		return true
	}
	if row.Attempts+1 >= maxInboxAttempts {
		log.Err(err).Int("attempts", row.Attempts+1).Msg("Giving up on Matrix event")
		br.metrics.Failed(metrics.MatrixToWhatsApp, metrics.ReasonGaveUp)
		if dbErr := br.DB.Inbox.MarkFailed(ctx, row.Seq, err); dbErr != nil {
			log.Err(dbErr).Msg("Failed to mark inbox event as failed")
			return false
		}
		br.sendBotNotice(ctx, row.RoomID, fmt.Sprintf("Failed to bridge your message: %v", err))
		return true
	}
	log.Warn().Err(err).Int("attempt", row.Attempts+1).Msg("Failed to handle Matrix event, will retry")
	if dbErr := br.DB.Inbox.RecordAttempt(ctx, row.Seq, err); dbErr != nil {
		log.Err(dbErr).Msg("Failed to record inbox attempt")
	}
	return false
}

// handleRawEvent parses a stored event and routes it. Panics are turned into errors so that one bad
// event cannot stop its room's worker.
func (br *Bridge) handleRawEvent(ctx context.Context, raw json.RawMessage) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while handling event: %v", p)
			br.Log.Error().Str("stack", string(debug.Stack())).Msg("Panic in Matrix event handler")
		}
	}()
	var evt event.Event
	if err = json.Unmarshal(raw, &evt); err != nil {
		// An event whose content is not even an object: retrying would not change that, but the
		// sender of a message in a portal is told.
		br.Log.Warn().Err(err).Msg("Dropping stored event that does not parse")
		return br.reportUnparsable(ctx, raw, err)
	}
	if evt.Type == event.EventUnstablePollEnd {
		// mautrix has no content type for a poll's end; the portal needs only the event's type.
		return br.handleMatrixEvent(ctx, &evt)
	}
	if err = evt.Content.ParseRaw(evt.Type); err != nil {
		// Unknown event types are not bridged; known types with broken content are bridged
		// without the broken fields where possible, and the sender is told.
		return br.handleMalformedEvent(ctx, &evt, err)
	}
	return br.handleMatrixEvent(ctx, &evt)
}

// notePending records that a room has messages waiting for WhatsApp and reports whether the room
// should be told (once per outage).
func (br *Bridge) notePending(roomID id.RoomID) bool {
	br.pendingLock.Lock()
	defer br.pendingLock.Unlock()
	if br.pendingRooms[roomID] {
		return false
	}
	br.pendingRooms[roomID] = true
	return true
}

// clearPending forgets which rooms were told about waiting messages, after a connection came back.
func (br *Bridge) clearPending() {
	br.pendingLock.Lock()
	clear(br.pendingRooms)
	br.pendingLock.Unlock()
}
