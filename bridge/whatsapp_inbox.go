package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/hserr"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/waits"
	"github.com/matrix-whatsapp/matrix-whatsapp/metrics"
	"github.com/matrix-whatsapp/matrix-whatsapp/msgconv"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// The WhatsApp inbox: WhatsApp -> Matrix through the database.
//
//	whatsmeow event goroutine ──► waRouter.Handle* ──► storeWhatsAppEvent ──► whatsapp_inbox row ──► ack to WhatsApp
//	runWhatsAppInbox: stored portal (or PendingPortals on a wake-up) ──► portal pool (one worker per
//	     portal) ──► drainPortalInbox (rows from memory or the database, inbox_memory.go)
//	     ──► routeWhatsAppEvent ──► portal.Manager (the portal's queue) ──► Matrix
//
// The handler only stores the event (one INSERT) and returns, so WhatsApp gets its acknowledgement
// within milliseconds however long the homeserver is away. Each portal's rows are handled in seq
// order by at most one worker; a row that fails because the homeserver is unreachable (or the
// WhatsApp connection a download needs is down) is retried with backoff, capped at
// homeserverRetryMaxDelay, for as long as it takes, and the portal's later rows wait behind it. A
// row the homeserver refuses for good (a 4xx other than 429), one that cannot be converted
// (portal.PermanentError) or read back, or one that fails maxWAInboxAttempts times for another
// reason is given up: the room gets a notice
// saying what could not be bridged, and the portal's later rows flow. Rows left pending by a stop
// or a crash are handled after the restart.

const (
	// maxWAInboxAttempts is how often a WhatsApp event that fails for a reason other than an
	// unreachable homeserver or connection is tried before it is given up with a notice.
	maxWAInboxAttempts = 5
	// waInboxWorkers is how many portals' WhatsApp events are bridged at once.
	waInboxWorkers = 16
	// waInboxRetryDelay is how long a portal waits when its rows could not be read or settled.
	waInboxRetryDelay = 2 * time.Second
	// waInboxLoginWait is how long an event of a user without a WhatsApp login is kept waiting for
	// the login before it is given up.
	waInboxLoginWait = 10 * time.Minute
	// resendSettle is how long after the start an event stored before it, which the previous
	// process may have sent (maybe_sent.go), is looked for in its room before it is sent (portal.WithMaybeSent):
	// the homeserver may store a request the previous process's end cut off seconds later.
	resendSettle = 10 * time.Second
)

// errWaitingForLogin is an event's failure while its user has no WhatsApp login.
var errWaitingForLogin = errors.New("the user who received it has no WhatsApp login")

// storeWhatsAppEvent stores evt, received by user's connection in chat, in the WhatsApp inbox and
// wakes the inbox. Once it returned nil the event may be acknowledged to WhatsApp. Events of
// chats without portals (newsletters, broadcast lists, status updates unless
// bridge.status_broadcast is on) are not stored, nor the user's own status updates and receipts
// of status updates.
func (br *Bridge) storeWhatsAppEvent(ctx context.Context, user *Account, chat types.JID, waID types.MessageID, evt any) error {
	if !br.portals.BridgesChat(chat) || (chat.Server == types.BroadcastServer && !isContactStatus(evt)) {
		zerolog.Ctx(ctx).Debug().Stringer("chat", chat).Type("event_type", evt).Msg("Ignoring event in status or newsletter chat")
		return nil
	}
	if chat.Server == types.GroupServer {
		user.noteGroups(false, chat)
	}
	key, err := br.portals.KeyFor(ctx, userLogin{user}, chat)
	if err != nil {
		return fmt.Errorf("failed to find the portal of %s: %w", chat, err)
	}
	kind, version, payload, err := whatsapp.EncodeEvent(evt)
	if err != nil {
		return err
	}
	row := &database.WhatsAppInboxEvent{User: user.MXID, Login: user.loginID(), Portal: key, Kind: kind, Version: version, WAID: waID, Payload: payload}
	// Messages and receipts keep everything the handlers read in their stored form
	// (whatsapp.EncodeEvent), so the handler may take the event as it is. A message's duplicate
	// check is answered by the insert when its portal is loaded (the answer holds from a
	// checkpoint taken before it: portal/incoming.go).
	var checkpoint portal.IncomingCheckpoint
	checkIncoming := false
	switch evt.(type) {
	case *events.Message:
		row.Event = evt
		checkpoint, checkIncoming = br.portals.IncomingCheckpoint(key)
	case *events.Receipt:
		row.Event = evt
	}
	// The store writes of the message's decryption, which whatsmeow made on this goroutine just
	// before it called the handler, ride along with the insert (internal/sessionlock/hold.go):
	// one statement and one commit for both. Only a message whose failure fails its own delivery
	// carries them: whatsmeow acknowledges a message resent for a placeholder (dispatched while
	// the phone's answer is handled) whatever its handler returns, and the answer's writes are
	// written before the handler returns (whatsapp.Login's handleEvent) instead.
	var carry database.Carrier
	if msg, ok := evt.(*events.Message); ok && msg.UnavailableRequestID == "" {
		held, err := user.heldDecryption()
		if err != nil {
			return err
		} else if held != nil {
			carry = held
		}
	}
	stored := sync.OnceFunc(br.waInboxMemory.storing())
	defer stored() // also when the insert panics
	if checkIncoming {
		var check *database.IncomingCheck
		if check, err = br.DB.WAInbox.EnqueueLookingUp(ctx, row, carry); check != nil {
			row.Known = checkpoint.Answer(string(waID), check.Bridged, check.Placeholder)
		}
	} else {
		err = br.DB.WAInbox.Enqueue(ctx, row, carry)
	}
	if err != nil {
		stored()
		return err
	}
	br.waInboxMemory.add(key, row)
	stored()
	zerolog.Ctx(ctx).Trace().Int64("wa_inbox_seq", row.Seq).Str("kind", kind).Str("wa_message_id", waID).Msg("Stored WhatsApp event")
	handOver(br.waInboxPortals, key, br.wakeWAInbox)
	return nil
}

// isContactStatus reports whether evt, an event in status@broadcast, is a contact's status update
// (a message, or one that could not be decrypted yet) rather than the user's own or a receipt.
func isContactStatus(evt any) bool {
	switch evt := evt.(type) {
	case *events.Message:
		return !evt.Info.IsFromMe
	case *events.UndecryptableMessage:
		return !evt.Info.IsFromMe
	}
	return false
}

// wakeWAInbox tells the WhatsApp inbox that portals may have pending events. It never blocks.
func (br *Bridge) wakeWAInbox() {
	select {
	case br.waInboxWake <- struct{}{}:
	default:
	}
}

// runWhatsAppInbox hands every portal with pending WhatsApp events to the portal pool on each
// wake-up. It returns when the bridge stops, after every worker has finished.
func (br *Bridge) runWhatsAppInbox() {
	defer br.wg.Done()
	ctx := br.ctx
	pool := newRoomPool(ctx, waInboxWorkers, waInboxRetryDelay, br.drainPortalInbox)
	defer pool.wait()
	var retryC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case key := <-br.waInboxPortals:
			pool.schedule(key) // just stored: no need to ask the database
			continue
		case <-br.waInboxWake:
		case <-retryC:
		}
		retryC = nil
		portals, err := br.DB.WAInbox.PendingPortals(ctx)
		if err != nil {
			if ctx.Err() == nil {
				br.Log.Err(err).Msg("Failed to read the WhatsApp inbox")
			}
			retryC = time.After(waInboxRetryDelay)
			continue
		}
		for _, key := range portals {
			pool.schedule(key)
		}
	}
}

// drainPortalInbox handles a portal's pending WhatsApp events in order and reports whether one
// stays pending for a retry. It is the pool's roomDrainFunc.
func (br *Bridge) drainPortalInbox(ctx context.Context, key database.PortalKey) (retry bool) {
	mem := br.waInboxMemory
	rows, fromMemory, epoch, err := mem.pending(key, func() ([]*database.WhatsAppInboxEvent, error) {
		return br.DB.WAInbox.Pending(ctx, key)
	})
	if err != nil {
		if ctx.Err() == nil {
			br.Log.Err(err).Str("portal", key.String()).Msg("Failed to read the WhatsApp inbox")
		}
		return true
	}
	defer func() { mem.finish(key, fromMemory, epoch, retry) }()
	for _, item := range coalesceReceipts(rows) { // whatsapp_receipts.go
		if ctx.Err() != nil || !br.handleWAInboxRow(ctx, item) {
			// Its next try is not measured as the bridge's handling time (metrics.Handled).
			item.row.Arrived = time.Time{}
			return true
		}
		seqs := append([]int64{item.row.Seq}, item.absorbed...)
		mem.handled(key, seqs...)
		br.waMaybeSent.settled(seqs...)
	}
	return false
}

// handleWAInboxRow bridges one stored event, retrying while that may help, and records the
// outcome, also for the rows the item stands for. It returns false when the event stays pending
// (the bridge is stopping, or the outcome could not be recorded).
func (br *Bridge) handleWAInboxRow(ctx context.Context, item waInboxItem) bool {
	row, evt := item.row, item.evt
	logCtx := br.Log.With().Int64("wa_inbox_seq", row.Seq).Str("kind", row.Kind).Str("wa_message_id", row.WAID).
		Stringer("user_mxid", row.User).Str("portal", row.Portal.String())
	if len(item.absorbed) > 0 {
		logCtx = logCtx.Ints64("absorbed_seqs", item.absorbed)
	}
	log := logCtx.Logger()
	ctx = log.WithContext(ctx)
	var err error
	if evt == nil {
		// A row this process stored keeps its event in memory: no decoding (5 % of the bridge's
		// CPU in a profile on a busy machine).
		evt = row.Event
	}
	if evt == nil {
		if evt, err = whatsapp.DecodeEvent(row.Kind, row.Version, row.Payload); err != nil {
			return br.giveUpWAEvent(ctx, item, nil, err)
		}
	}
	owner, err := br.GetUser(ctx, row.User)
	if err != nil {
		log.Err(err).Msg("Failed to load the user of a stored WhatsApp event")
		return false
	}
	settlement := portal.NewSettlement(row.WAID, func(ctx context.Context) error {
		return br.DB.WAInbox.MarkDone(ctx, row.Seq)
	}).WithStatement(br.DB.WAInbox.MarkDoneStatement(row.Seq))
	if row.Kind == whatsapp.EventKindMessage {
		// A message the portal records in the message map settles its row in the same transaction.
		ctx = portal.WithSettlement(ctx, settlement)
		if known, ok := row.Known.(portal.KnownIncoming); ok {
			ctx = portal.WithKnownIncoming(ctx, known)
		}
	}
	ctx, waited := waits.Track(ctx)
	delay, failures := time.Second, 0
	// Attempts recorded in the database count for the row's next try too (it may come from memory).
	recorded := 0
	defer func() { row.Attempts += recorded }()
	// unknownOutcome: an attempt got no clear answer from the homeserver, so a retry looks for the
	// event longer (portal.WithMaybeSent).
	var unknownOutcome bool
	for attempt := 1; ; attempt++ {
		br.waInboxActivity.touch()
		// Closed when the homeserver answers again after an outage (hsback.go); a wait for
		// something else (a login, the WhatsApp connection) is cut short by it too, harmlessly.
		hsBack := br.hsBack.wait()
		user := owner.inboxAccount(row.Login)
		if user == nil || user.WAJID().IsEmpty() {
			// Right after a pairing the login's JID may not be stored yet; a user who logged out
			// meanwhile will not come back for these events.
			if time.Since(row.ReceivedAt) > waInboxLoginWait {
				return br.giveUpWAEvent(ctx, item, evt, errors.New("the user who received it is no longer logged in to WhatsApp"))
			}
			err = errWaitingForLogin
		} else {
			rctx := ctx
			earlier, cutOff := br.waMaybeSent.fromPreviousProcess(row.Seq, row.ReceivedAt, br.startedAt) // maybe_sent.go
			if attempt > 1 || row.Attempts > 0 || earlier {
				// An earlier attempt, maybe by a process that crashed, may have sent it already;
				// what a crashed process, or a homeserver that gave no clear answer, had taken may
				// still be on its way into the room.
				var lookUntil time.Time
				if cutOff {
					lookUntil = br.startedAt.Add(resendSettle)
					if attempt == 1 {
						log.Info().Time("look_until", lookUntil).
							Msg("An earlier process may have sent this WhatsApp event; looking for it in the room before sending it")
					}
				}
				if unknownOutcome {
					lookUntil = later(lookUntil, time.Now().Add(unknownOutcomeSettle))
				}
				rctx = portal.WithMaybeSent(ctx, lookUntil)
			}
			seqs := append([]int64{row.Seq}, item.absorbed...)
			br.waMaybeSent.trying(seqs...)
			err = br.routeWhatsAppEvent(rctx, user, evt, attempt == 1)
			if err != nil && (sendOutcomeUnknown(err) || errors.Is(err, portal.ErrLookUnanswered) || waited.Unanswered()) {
				// A look the homeserver did not answer leaves the earlier attempt's outcome as
				// unknown as before: the next attempt looks for the settle time again. A request
				// cut off mid-way and retried inside the call (waits.Meter.Unanswered) may have
				// been stored although the call's final error is a refused connection.
				unknownOutcome = true
			}
			br.noteHomeserverFailure(err) // late_events.go
			if err != nil {
				// A request cut off by the stop may still be stored by the homeserver.
				br.waMaybeSent.answered(unknownOutcome || ctx.Err() != nil || errors.Is(err, portal.ErrStopping), seqs...)
			}
		}
		if settlement.Settled() {
			if err != nil {
				// Whatever failed after the message was recorded is not worth bridging it again.
				log.Warn().Err(err).Msg("WhatsApp event was bridged, but handling it failed afterwards")
			} else if attempt == 1 && row.Attempts == 0 && !row.Arrived.IsZero() {
				// Only a message the portal sent to Matrix and recorded settles its row here: its
				// time, at its first attempt (metrics.Handled).
				br.metrics.Handled(metrics.WhatsAppToMatrix, time.Since(row.Arrived), waited)
			}
			return true
		}
		if err == nil {
			if err = br.DB.WAInbox.MarkDone(ctx, row.Seq, item.absorbed...); err != nil {
				log.Err(err).Msg("Failed to mark WhatsApp event as handled")
				return false
			}
			return true
		}
		if ctx.Err() != nil || errors.Is(err, portal.ErrStopping) {
			return false
		}
		if !waitsForRecovery(err) {
			failures++
			var perm portal.PermanentError
			if hserr.Permanent(err) || errors.As(err, &perm) || failures >= maxWAInboxAttempts {
				return br.giveUpWAEvent(ctx, item, evt, err)
			}
		}
		log.Warn().Err(err).Int("attempt", row.Attempts+attempt).Dur("retry_in", delay).Msg("Failed to bridge WhatsApp message, retrying")
		if dbErr := br.DB.WAInbox.RecordAttempt(ctx, row.Seq, err); dbErr != nil && ctx.Err() == nil {
			log.Warn().Err(dbErr).Msg("Failed to record WhatsApp inbox attempt")
		} else if dbErr == nil {
			recorded++
		}
		select {
		case <-ctx.Done():
			return false
		case <-hsBack:
			delay = time.Second
			continue
		case <-time.After(jittered(delay)):
		}
		delay = min(delay*2, homeserverRetryMaxDelay)
	}
}

// unknownOutcomeSettle is how long the retry of an event whose send got no clear answer keeps
// looking for it in the room before sending it again, from the retry on. Dendrite, stopped
// mid-request, answers 500 and may store the event when it is back; its roomserver and sync
// stream catch up within seconds of answering again.
const unknownOutcomeSettle = 20 * time.Second

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sendOutcomeUnknown reports whether err, a failure to bridge an event, leaves open whether the
// homeserver stored what was sent: a 5xx answer, or a connection that failed after it was made
// (a refused or unreachable connection never carried the request).
func sendOutcomeUnknown(err error) bool {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return false
	}
	if httpErr.Response != nil {
		return httpErr.Response.StatusCode >= 500
	}
	var opErr *net.OpError
	return !(errors.As(err, &opErr) && opErr.Op == "dial")
}

// waitsForRecovery reports whether an error goes away once something outside the bridge recovers
// (the homeserver or the network is back, a rate limit passed, the WhatsApp connection a download
// needs is up again): the event is retried for as long as that takes.
func waitsForRecovery(err error) bool {
	return hserr.Transient(err) || errors.Is(err, portal.ErrLookUnanswered) || errors.Is(err, errWaitingForLogin) || errors.Is(err, portal.ErrNotConnected) || errors.Is(err, msgconv.ErrNotConnected)
}

// routeWhatsAppEvent hands a stored event to its handler and waits for the result. first is set
// on the first attempt, which also refreshes a message sender's ghost.
func (br *Bridge) routeWhatsAppEvent(ctx context.Context, user *Account, evt any, first bool) error {
	login := userLogin{user}
	switch evt := evt.(type) {
	case *events.Message:
		if first {
			br.syncPushName(ctx, login, evt.Info)
			br.subscribeSenderPresence(ctx, user, evt.Info) // presence.go
		}
		return br.portals.HandleWhatsAppMessage(ctx, login, evt)
	case *events.UndecryptableMessage:
		return br.portals.HandleWhatsAppUndecryptable(ctx, login, evt)
	case *events.Receipt:
		return br.portals.HandleWhatsAppReceipt(ctx, login, evt)
	case *events.GroupInfo:
		return br.portals.HandleGroupInfo(ctx, login, evt)
	case *events.JoinedGroup:
		return br.portals.EnsureRoom(ctx, login, evt.JID)
	default:
		return fmt.Errorf("no handler for stored WhatsApp event %T", evt)
	}
}

// giveUpWAEvent marks an event (and the rows it stands for) failed for good and tells its room what
// could not be bridged (evt is nil when the stored event could not be read). It returns false when
// the event stays pending because the notice or the outcome could not be stored; the portal is
// then retried later.
func (br *Bridge) giveUpWAEvent(ctx context.Context, item waInboxItem, evt any, cause error) bool {
	row := item.row
	log := zerolog.Ctx(ctx)
	log.Err(cause).Msg("Giving up on WhatsApp event, it cannot be bridged")
	if text := unbridgedNotice(row, evt, cause); text != "" {
		room, err := br.portals.RoomOf(ctx, row.Portal)
		if err != nil {
			log.Err(err).Msg("Failed to look up the room for a notice")
			return false
		}
		if room != "" {
			if err = br.sendNoticeTxn(ctx, room, "wa-unbridged."+strconv.FormatInt(row.Seq, 10), text); err != nil {
				log.Err(err).Stringer("room_id", room).Msg("Failed to tell the room about a WhatsApp event that cannot be bridged")
				if !hserr.Permanent(err) {
					return false
				}
			}
		}
	}
	if err := br.DB.WAInbox.MarkFailed(ctx, row.Seq, cause, item.absorbed...); err != nil {
		log.Err(err).Msg("Failed to mark WhatsApp event as failed")
		return false
	}
	br.metrics.Failed(metrics.WhatsAppToMatrix, metrics.ReasonGaveUp)
	return true
}

// unbridgedNotice is the room's notice for an event given up, or "" for events not worth one
// (receipts).
func unbridgedNotice(row *database.WhatsAppInboxEvent, evt any, cause error) string {
	reason := unbridgedReason(cause)
	switch evt := evt.(type) {
	case *events.Message:
		return fmt.Sprintf("A WhatsApp message from %s (sent %s) could not be bridged: %s. Open WhatsApp to see it.",
			senderName(evt.Info), evt.Info.Timestamp.UTC().Format("2006-01-02 15:04 MST"), reason)
	case *events.UndecryptableMessage:
		return fmt.Sprintf("A WhatsApp message from %s (sent %s) that could not be decrypted could not be shown either: %s.",
			senderName(evt.Info), evt.Info.Timestamp.UTC().Format("2006-01-02 15:04 MST"), reason)
	case *events.GroupInfo:
		return fmt.Sprintf("A change of this WhatsApp group's settings or members could not be bridged: %s.", reason)
	case *events.Receipt, *events.JoinedGroup:
		return ""
	}
	if row.Kind == whatsapp.EventKindReceipt {
		return ""
	}
	return fmt.Sprintf("A WhatsApp event (%s) could not be bridged: %s.", row.Kind, reason)
}

// unbridgedReason says why, without the request URL mautrix puts into its errors.
func unbridgedReason(err error) string {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		return "the Matrix server refused it (" + mautrixErrorText(httpErr) + ")"
	}
	return err.Error()
}

// senderName names a message's sender for a notice: the push name, else the number or LID.
func senderName(info types.MessageInfo) string {
	if info.IsFromMe {
		return "you"
	}
	if info.PushName != "" {
		return info.PushName
	}
	sender := whatsapp.Sender(info)
	if sender.Server == types.DefaultUserServer {
		return "+" + sender.User
	}
	return sender.User
}

// sendNoticeTxn sends a markdown notice as the bot with a transaction ID (so that a retry does not
// post it twice) and returns the homeserver's error.
func (br *Bridge) sendNoticeTxn(ctx context.Context, roomID id.RoomID, txnID, markdown string) error {
	content := format.RenderMarkdown(markdown, true, false)
	content.MsgType = event.MsgNotice
	_, err := br.AS.BotIntent().SendMessageEvent(ctx, roomID, event.EventMessage, &content, mautrix.ReqSendEvent{TransactionID: "mw-" + txnID})
	return err
}
