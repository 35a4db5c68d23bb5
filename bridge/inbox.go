package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
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
		case roomID := <-br.inboxRooms:
			pool.schedule(roomID) // just stored: no need to ask the database
			continue
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

// Handled rows of both inboxes, processed transaction IDs and sent outbox rows are kept for keepHandled, long
// enough for any homeserver retry, then deleted so that the tables do not grow forever.
const (
	keepHandled   = 7 * 24 * time.Hour
	pruneInterval = time.Hour
)

func (br *Bridge) pruneHandled(ctx context.Context) {
	inbox, err1 := br.DB.Inbox.Prune(ctx, keepHandled)
	txns, err2 := br.DB.Txn.Prune(ctx, keepHandled)
	outbox, err3 := br.DB.Outbox.Prune(ctx, keepHandled)
	waInbox, err4 := br.DB.WAInbox.Prune(ctx, keepHandled)
	// Sent messages kept for retry receipts (whatsapp.Options.KeepSentMessages): all of them when
	// keeping is off.
	sent, err5 := br.DB.PruneSentMessages(ctx, br.Config.WhatsApp.ResendWindow())
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil && ctx.Err() == nil {
		br.Log.Warn().Err(err).Msg("Failed to prune handled events")
		return
	}
	if inbox+txns+outbox+waInbox+sent > 0 {
		br.Log.Debug().Int64("inbox", inbox).Int64("txns", txns).Int64("outbox", outbox).Int64("whatsapp_inbox", waInbox).
			Int64("sent_messages", sent).
			Msg("Pruned handled events")
	}
}

// scheduleInbox hands every room with pending events to the pool. It reports false when the inbox
// could not be read and must be read again later.
func (br *Bridge) scheduleInbox(ctx context.Context, pool *roomPool[id.RoomID]) bool {
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
	mem := br.inboxMemory
	rows, fromMemory, epoch, err := mem.pending(roomID, func() ([]*database.InboxEvent, error) {
		return br.DB.Inbox.Pending(ctx, roomID)
	})
	if err != nil {
		if ctx.Err() == nil {
			br.Log.Err(err).Stringer("room_id", roomID).Msg("Failed to read the Matrix inbox")
		}
		return true
	}
	defer func() { mem.finish(roomID, fromMemory, epoch, retry) }()
	var handledEarly map[int64]bool // late events handled ahead of a newer one (late_events.go)
	rows = orderForHandling(rows)
	for _, row := range rows {
		if handledEarly[row.Seq] {
			continue
		}
		br.inboxActivity.touch()
		late, wait := br.lateEventsBefore(ctx, row, rows)
		if wait {
			return true
		}
		for _, late := range late {
			if ctx.Err() != nil || !br.handleInboxRow(ctx, late) {
				return true
			}
			mem.handledOutOfTurn(roomID, late.Seq)
			if handledEarly == nil {
				handledEarly = make(map[int64]bool)
			}
			handledEarly[late.Seq] = true
		}
		if ctx.Err() != nil || !br.handleInboxRow(ctx, row) {
			return true
		}
		mem.handled(roomID, row.Seq)
	}
	return false
}

// storeInboxEvents stores the events of one appservice transaction (or of one response of the
// bot's sync, see MatrixInboxQuery.Enqueue) and hands the rooms with new rows to the inbox.
func (br *Bridge) storeInboxEvents(ctx context.Context, txnID string, rows []*database.InboxEvent) (inserted int, err error) {
	stored := br.inboxMemory.storing()
	inserted, err = br.DB.Inbox.Enqueue(ctx, txnID, rows)
	if err != nil {
		stored()
		return 0, err
	}
	var rooms []id.RoomID
	for _, row := range rows {
		if row.Seq != 0 { // 0: already in the inbox, not stored again
			if row.Unbridged {
				br.unbridged.add(row.Seq)
			}
			br.inboxMemory.add(row.RoomID, row)
			if !slices.Contains(rooms, row.RoomID) {
				rooms = append(rooms, row.RoomID)
			}
		}
	}
	stored()
	for _, roomID := range rooms {
		handOver(br.inboxRooms, roomID, br.wakeInbox)
	}
	return inserted, nil
}

// unbridgedRows are the Matrix inbox rows known not to be bridged yet (database.InboxEvent.Unbridged),
// by seq, until the first attempt to handle them, whichever path makes it (the drain, or the check
// for events pushed late, which handles its own copy of the row): an attempt that failed may have
// sent a part already, so later attempts look the event up.
type unbridgedRows struct {
	lock sync.Mutex
	seqs map[int64]struct{}
}

func (u *unbridgedRows) add(seq int64) {
	u.lock.Lock()
	defer u.lock.Unlock()
	if u.seqs == nil {
		u.seqs = make(map[int64]struct{})
	}
	u.seqs[seq] = struct{}{}
}

// take reports whether seq was known unbridged, and forgets it.
func (u *unbridgedRows) take(seq int64) bool {
	u.lock.Lock()
	defer u.lock.Unlock()
	_, ok := u.seqs[seq]
	delete(u.seqs, seq)
	return ok
}

// handleInboxRow handles one stored event and records the outcome. It returns false when the event
// stays pending for a retry.
func (br *Bridge) handleInboxRow(ctx context.Context, row *database.InboxEvent) (handled bool) {
	defer func() {
		if !handled {
			// Its time is no longer the bridge's handling time (it waits for a retry, for
			// WhatsApp, for the homeserver): it is not measured (metrics.Handled).
			row.Arrived = time.Time{}
		}
	}()
	log := br.Log.With().Stringer("event_id", row.EventID).Stringer("room_id", row.RoomID).Logger()
	ctx = log.WithContext(ctx)
	// A message the portal records in the message map settles its row in the same transaction.
	settlement := portal.NewSettlement(row.EventID.String(), func(ctx context.Context) error {
		return br.DB.Inbox.MarkDone(ctx, row.Seq)
	}).WithStatement(br.DB.Inbox.MarkDoneStatement(row.Seq))
	ctx, waited := waits.Track(ctx)
	if br.unbridged.take(row.Seq) {
		ctx = portal.WithUnbridged(ctx, row.EventID)
	}
	err := br.handleRawEvent(portal.WithSettlement(ctx, settlement), row.Event)
	if settlement.Settled() {
		if err != nil {
			// Whatever failed after the message was recorded is not worth sending it again.
			log.Warn().Err(err).Msg("Matrix event was bridged, but handling it failed afterwards")
		} else if row.Attempts == 0 && !row.Arrived.IsZero() {
			// Messages settle their rows with the message map: a message bridged at its first attempt.
			br.metrics.Handled(metrics.MatrixToWhatsApp, time.Since(row.Arrived), waited)
		}
		return true
	}
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
		var hdr eventHeader
		_ = json.Unmarshal(row.Event, &hdr)
		if br.notePending(ctx, row.RoomID, hdr.Sender) {
			if br.chosenDisconnect(ctx, row.RoomID, hdr.Sender) {
				br.sendBotNotice(ctx, row.RoomID, fmt.Sprintf("You are disconnected from WhatsApp (you sent `disconnect`). Your messages are kept and will be delivered in order when you send `%s reconnect`.", br.Config.Bridge.CommandPrefix))
			} else {
				br.sendBotNotice(ctx, row.RoomID, "WhatsApp is not reachable right now. Your messages are kept and will be delivered in order as soon as the connection is back.")
			}
		}
		return false
	}
	if hserr.Unanswered(err) {
		br.noteHomeserverFailure(err) // late_events.go
		// Not an attempt either: the homeserver (its media repository, its room state) did not
		// answer or answered 5xx/429. The event waits, in order, however long that lasts, as
		// WhatsApp events wait for the homeserver in the other direction.
		log.Warn().Err(err).Msg("Matrix event waits for the homeserver")
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
	} else {
		row.Attempts++ // for the next try, which may take the row from memory
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
	if evt.Type == event.EventEncrypted {
		if err = evt.Content.ParseRaw(evt.Type); err != nil {
			return br.handleMalformedEvent(ctx, &evt, err)
		}
		return br.handleEncrypted(ctx, &evt) // crypto.go
	}
	return br.routeEvent(ctx, &evt)
}

// routeEvent parses an event's content and routes it; encrypted events come here decrypted.
func (br *Bridge) routeEvent(ctx context.Context, evt *event.Event) error {
	for _, stable := range []event.Type{msgconv.EventPollStart, msgconv.EventPollResponse, msgconv.EventPollEnd} {
		if evt.Type.Type == stable.Type {
			evt.Type = stable // types mautrix does not know parse with an unknown class
		}
	}
	switch evt.Type {
	case event.EventUnstablePollEnd, msgconv.EventPollStart, msgconv.EventPollResponse, msgconv.EventPollEnd:
		// mautrix has no content types for a poll's end or the stable poll events: the portal
		// reads their raw content (msgconv/mx_poll_stable.go), or needs only the type.
		return br.handleMatrixEvent(ctx, evt)
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		// Unknown event types are not bridged; known types with broken content are bridged
		// without the broken fields where possible, and the sender is told.
		return br.handleMalformedEvent(ctx, evt, err)
	}
	br.trackState(ctx, evt) // crypto.go
	if br.refuseUnencrypted(ctx, evt) {
		return nil
	}
	return br.handleMatrixEvent(ctx, evt)
}

// pendingRoomsKey is the bridge_state key under which the rooms told about waiting messages are
// kept (a JSON object of room ID to the bridge user whose connection they wait for), so that a
// restart during an outage does not tell them again.
const pendingRoomsKey = "pending_rooms"

// loadPending restores the rooms told about waiting messages before the restart. It runs before
// any connection comes up (a connection clears its rooms).
func (br *Bridge) loadPending(ctx context.Context) {
	raw, err := br.DB.State.Get(ctx, pendingRoomsKey)
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to load the rooms told about waiting messages")
		return
	} else if raw == "" {
		return
	}
	rooms := make(map[id.RoomID]id.UserID)
	if err = json.Unmarshal([]byte(raw), &rooms); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Ignoring unreadable list of rooms told about waiting messages")
		return
	}
	br.pendingLock.Lock()
	defer br.pendingLock.Unlock()
	maps.Copy(br.pendingRooms, rooms)
}

// savePending stores the rooms told about waiting messages; the caller holds pendingLock. A
// failure only means a room may be told again after a restart.
func (br *Bridge) savePending(ctx context.Context) {
	if br.DB == nil {
		return
	}
	raw, err := json.Marshal(br.pendingRooms)
	if err == nil {
		err = br.DB.State.Set(ctx, pendingRoomsKey, string(raw))
	}
	if err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to store the rooms told about waiting messages")
	}
}

// notePending records that a room has messages of sender waiting for sender's WhatsApp connection
// and reports whether the room should be told (once per outage of that connection, also across
// restarts of the bridge).
func (br *Bridge) notePending(ctx context.Context, roomID id.RoomID, sender id.UserID) bool {
	br.pendingLock.Lock()
	defer br.pendingLock.Unlock()
	if _, told := br.pendingRooms[roomID]; told {
		return false
	}
	br.pendingRooms[roomID] = sender
	br.savePending(ctx)
	return true
}

// clearPending forgets the rooms told about messages waiting for user's connection, after it came
// back; rooms waiting for other users' connections stay told.
func (br *Bridge) clearPending(ctx context.Context, user id.UserID) {
	br.pendingLock.Lock()
	defer br.pendingLock.Unlock()
	changed := false
	for roomID, sender := range br.pendingRooms {
		if sender == user {
			delete(br.pendingRooms, roomID)
			changed = true
		}
	}
	if changed {
		br.savePending(ctx)
	}
}

// chosenDisconnect reports whether sender's login for the chat of roomID is disconnected because
// the user sent `disconnect` (whatsapp.StateDisconnected), rather than by an outage.
func (br *Bridge) chosenDisconnect(ctx context.Context, roomID id.RoomID, sender id.UserID) bool {
	p, err := br.DB.Portal.GetByMXID(ctx, roomID)
	if err != nil || p == nil || br.isBridgeUser(sender) {
		return false
	}
	user, err := br.GetUser(ctx, sender)
	if err != nil {
		return false
	}
	return user.AccountForChat(p.Key).wa.State().Event == whatsapp.StateDisconnected
}
