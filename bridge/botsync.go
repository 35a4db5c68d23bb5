package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
)

// Not every homeserver pushes everything to appservices: Dendrite sends no redactions, typing
// notifications or read receipts in transactions. The bot then runs its own /sync, filtered to
// exactly those, and hands them to the same paths as transactions: redactions go into the durable
// Matrix inbox (deduplicated by event ID, so a homeserver that pushes them too never causes a
// double), typing and receipts to the ephemeral handler. The sync position is kept in the
// database, so a restart neither misses nor repeats what came in meanwhile.

// botSyncStateKey names the stored /sync position (bridge_state).
const botSyncStateKey = "bot_sync.next_batch"

// botSyncFilter asks only for what transactions may lack: redactions in the timeline, typing and
// receipts; no state, presence or account data.
const botSyncFilter = `{"room":{"timeline":{"types":["m.room.redaction"],"limit":100},` +
	`"state":{"types":[]},"ephemeral":{"types":["m.typing","m.receipt"]},"account_data":{"types":[]}},` +
	`"presence":{"types":[]},"account_data":{"types":[]}}`

// emptySyncFilter asks for nothing from any room, presence or account data: a /sync with it only
// gives the position (the bot's first start) or waits (the homeserver watch, hswatch.go).
const emptySyncFilter = `{"room":{"rooms":[]},"presence":{"types":[]},"account_data":{"types":[]}}`

// botSyncTimeout is how long one /sync long-polls, in milliseconds.
const botSyncTimeout = 30000

// While the bridged rooms are busy the bot polls instead of long-polling. A long-polling /sync is
// woken by every event in every room the bot is in, and on each wake-up Dendrite computes an
// incremental sync of all its streams (syncapi/sync.RequestPool.OnIncomingSyncRequest: one
// database snapshot per stream) that the bot's filter then leaves empty, so the request waits on:
// under load that cost is paid per message (measured at 6-7 ms of Dendrite's CPU per
// Matrix->WhatsApp message on 2 cores, docs/PERFORMANCE.md). A poll costs one such computation and
// one request, however many events came in between. (A short long poll costs the homeserver as
// much as a long one: it is woken by every event too, measured at 1.4-1.6 times ceiling A's
// homeserver CPU per Matrix->WhatsApp message against 0.8-0.9 for polling.)
//
// The bridge knows how busy its rooms are: the homeserver pushes it their events in transactions,
// its own messages' echoes included. The bot long-polls while fewer than botSyncBusyEvents events
// came in the last botSyncBusyFor (and the current second), so that in a quiet bridge typing and
// deletions reach WhatsApp at once, and a wake-up costs little. From that rate on it ends the long
// poll and asks with timeout=0 every botSyncBusyPoll; while Matrix users are typing or deleting (a
// poll found it within botSyncActiveFor), or with encryption on (the sync brings room keys and
// device list changes), every botSyncActivePoll, and at once when an event waits for its room key
// (wantBotSync). Redactions, typing and receipts then reach the bridge up to that interval later;
// the first typing or deletion of a busy spell up to botSyncBusyPoll. Without encryption, at
// 30-100 messages/s, what Dendrite manages on 2 cores, that is one request per 450-1,500 messages,
// and with the watch in hswatch.go (two requests per botSyncTimeout, which notices a homeserver
// restart between polls) still under one per 200.
const (
	botSyncBusyEvents = 25
	botSyncBusyFor    = 5 * time.Second
	botSyncBusyPoll   = 15 * time.Second
	botSyncActivePoll = time.Second
	botSyncActiveFor  = 30 * time.Second
)

// roomActivitySlots is how many seconds roomActivity counts: the whole seconds of botSyncBusyFor
// and the current one.
const roomActivitySlots = int(botSyncBusyFor/time.Second) + 1

// roomActivity counts the events the homeserver pushed the bridge in each of the last
// roomActivitySlots seconds, for the bot's sync.
type roomActivity struct {
	lock sync.Mutex
	// counts[i] is how many events arrived in the Unix second secs[i] (slot: the second modulo
	// roomActivitySlots).
	secs   [roomActivitySlots]int64
	counts [roomActivitySlots]int
	// woken is closed by the next touch (nil while nothing waits for it).
	woken chan struct{}
}

// touch notes that a transaction brought events (their number) now.
func (a *roomActivity) touch(events int) { a.touchAt(time.Now(), events) }

func (a *roomActivity) touchAt(now time.Time, events int) {
	sec := now.Unix()
	slot := int(sec % int64(roomActivitySlots))
	a.lock.Lock()
	if a.secs[slot] != sec {
		a.secs[slot], a.counts[slot] = sec, 0
	}
	a.counts[slot] += events
	if a.woken != nil {
		close(a.woken)
		a.woken = nil
	}
	a.lock.Unlock()
}

// busy reports whether at least botSyncBusyEvents events arrived within the current second and
// the botSyncBusyFor before it.
func (a *roomActivity) busy() bool { return a.busyAt(time.Now()) }

func (a *roomActivity) busyAt(now time.Time) bool {
	sec := now.Unix()
	total := 0
	a.lock.Lock()
	for i, s := range a.secs {
		if s > sec-int64(roomActivitySlots) && s <= sec {
			total += a.counts[i]
		}
	}
	a.lock.Unlock()
	return total >= botSyncBusyEvents
}

// next returns a channel closed by the next touch.
func (a *roomActivity) next() <-chan struct{} {
	a.lock.Lock()
	defer a.lock.Unlock()
	if a.woken == nil {
		a.woken = make(chan struct{})
	}
	return a.woken
}

// untilBusy cancels when the rooms get busy, or returns when done is closed.
func (a *roomActivity) untilBusy(done <-chan struct{}, cancel func()) {
	for {
		woken := a.next()
		if a.busy() {
			cancel()
			return
		}
		select {
		case <-woken:
		case <-done:
			return
		}
	}
}

// botSyncWanted decides homeserver.bot_sync: "on" and "off" as said; "auto" asks the homeserver who
// it is (GET /_matrix/federation/v1/version, which Synapse and Dendrite serve on their client port
// too) and syncs unless it is Synapse, which pushes redactions and, with the registration's
// ephemeral events, typing and receipts. An unanswered question counts as "sync": a redundant
// sync only costs a little load, a missing one loses deletions.
func (br *Bridge) botSyncWanted(ctx context.Context) bool {
	if br.crypto != nil {
		// To-device events (room keys) reach a device only through its own /sync.
		return true
	}
	switch br.Config.Homeserver.BotSync {
	case config.BotSyncOn:
		return true
	case config.BotSyncOff:
		return false
	}
	name, err := br.homeserverName(ctx)
	if err != nil {
		br.Log.Debug().Err(err).Msg("Could not ask the homeserver its name; running the bot's own sync")
		return true
	}
	br.Log.Debug().Str("homeserver_software", name).Msg("Asked the homeserver its name")
	return !strings.EqualFold(name, "synapse")
}

// homeserverName returns the software name the homeserver reports.
func (br *Bridge) homeserverName(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := strings.TrimRight(br.Config.Homeserver.Address, "/") + "/_matrix/federation/v1/version"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := br.AS.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var body struct {
		Server struct {
			Name string `json:"name"`
		} `json:"server"`
	}
	if err = json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	return body.Server.Name, nil
}

// wantBotSync asks the bot's sync, when it polls because the rooms are busy, for its next poll
// now rather than up to botSyncBusyPoll later, and then every botSyncActivePoll for
// botSyncActiveFor. A long poll needs no asking: what the bot waits for wakes it.
func (br *Bridge) wantBotSync() {
	select {
	case br.botSyncAsked <- struct{}{}:
	default:
	}
}

// runBotSync is the bot's /sync loop; it ends with the bridge. Failures are retried with backoff
// (1 s doubling up to 1 min, cut short when the homeserver answers again) from the last position
// that was fully handled.
func (br *Bridge) runBotSync() {
	defer br.wg.Done()
	ctx := br.ctx
	log := br.Log.With().Str("component", "bot_sync").Logger()
	ctx = log.WithContext(ctx)
	client := br.AS.BotClient()
	if br.crypto != nil {
		client = br.crypto.Client()
	}
	retry := newHSRetry(&br.hsBack)
	var since string
	for {
		var err error
		retry.before()
		if since, err = br.botSyncStart(ctx, client); err == nil {
			break
		}
		br.noteHomeserverFailure(err) // late_events.go
		log.Warn().Err(err).Dur("retry_in", retry.delay).Msg("Failed to start the bot's sync")
		if !retry.wait(ctx) {
			return
		}
	}
	log.Info().Msg("Bot sync started: redactions, typing and receipts are read from the bot's /sync")
	// lastStart is when the latest request began, or a cut-short long poll ended; activeAt when a
	// poll last found a Matrix user typing or deleting.
	var lastStart, activeAt time.Time
	for ctx.Err() == nil {
		retry.before()
		req := mautrix.ReqSync{Timeout: botSyncTimeout, Since: since, FilterID: botSyncFilter}
		reqCtx, cancel := context.WithCancel(ctx)
		if br.roomActivity.busy() {
			req.Timeout = 0
			interval := botSyncBusyPoll
			if br.crypto != nil || time.Since(activeAt) < botSyncActiveFor {
				// With encryption the sync also brings room keys and device list changes.
				interval = botSyncActivePoll
			}
			select {
			case <-ctx.Done():
				cancel()
				return
			case <-time.After(time.Until(lastStart.Add(interval))):
			case <-br.botSyncAsked:
				// Something waits for what only the sync brings (a room key): poll now, and
				// often for a while, as after a Matrix user's typing.
				activeAt = time.Now()
				select {
				case <-ctx.Done():
					cancel()
					return
				case <-time.After(time.Until(lastStart.Add(botSyncActivePoll))):
				}
			}
		} else {
			// The rooms getting busy end the long poll: the sync polls while they stay so.
			go br.roomActivity.untilBusy(reqCtx.Done(), cancel)
		}
		lastStart = time.Now()
		resp, err := client.FullSyncRequest(reqCtx, req)
		cutShort := err != nil && reqCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if cutShort {
			// Nothing was read, and the long poll had all up to now: the first poll follows
			// an interval later, from the same position.
			lastStart = time.Now()
			continue
		}
		var active bool
		if err == nil {
			if br.crypto != nil {
				// Room keys first, so that the events they unlock find them.
				br.crypto.ProcessSync(ctx, resp, since)
			}
			active, err = br.ingestSync(ctx, since, resp)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			br.noteHomeserverFailure(err) // late_events.go
			log.Warn().Err(err).Dur("retry_in", retry.delay).Msg("Bot sync failed")
			if !retry.wait(ctx) {
				return
			}
			continue
		}
		if active {
			activeAt = time.Now()
		}
		retry.succeeded()
		if resp.NextBatch == since {
			continue
		}
		since = resp.NextBatch
		if err = br.DB.State.Set(ctx, botSyncStateKey, since); err != nil && ctx.Err() == nil {
			// The events are in the inbox already; a position not saved only means they are read
			// again after a restart, and the inbox drops them as duplicates.
			log.Warn().Err(err).Msg("Failed to store the bot's sync position")
		}
	}
}

// botSyncStart returns where the sync resumes: the stored position, or on the very first start the
// homeserver's current one, so that old redactions are not replayed as if they were new.
func (br *Bridge) botSyncStart(ctx context.Context, client *mautrix.Client) (string, error) {
	since, err := br.DB.State.Get(ctx, botSyncStateKey)
	if err != nil || since != "" {
		return since, err
	}
	resp, err := client.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: emptySyncFilter})
	if err != nil {
		return "", fmt.Errorf("failed to take the homeserver's sync position: %w", err)
	}
	if br.crypto != nil {
		br.crypto.ProcessSync(ctx, resp, "")
	}
	if err = br.DB.State.Set(ctx, botSyncStateKey, resp.NextBatch); err != nil {
		return "", fmt.Errorf("failed to store the bot's sync position: %w", err)
	}
	return resp.NextBatch, nil
}

// ingestSync hands one /sync answer to the bridge: redactions into the inbox (as transaction
// "sync:<since>", so a batch read again is a duplicate), typing and receipts to the ephemeral
// handler. Events of the bridge's own users (the bot, ghosts) are skipped like echoes. active
// reports whether a Matrix user redacted (not the bridge as the user) or was typing.
func (br *Bridge) ingestSync(ctx context.Context, since string, resp *mautrix.RespSync) (active bool, err error) {
	log := zerolog.Ctx(ctx)
	var rows []*database.InboxEvent
	var ephemeral []json.RawMessage
	var userRedacted bool
	for roomID, room := range resp.Rooms.Join {
		for _, evt := range room.Timeline.Events {
			if evt.Type != event.EventRedaction || evt.ID == "" || br.isBridgeUser(evt.Sender) {
				continue
			}
			raw, err := rawWithRoom(evt, roomID)
			if err != nil {
				log.Warn().Err(err).Stringer("event_id", evt.ID).Msg("Ignoring redaction from sync that cannot be encoded")
				continue
			}
			rows = append(rows, &database.InboxEvent{EventID: evt.ID, RoomID: roomID, Event: raw})
			// What the bridge deleted as a user's own account (double puppeting) is not the user.
			userRedacted = userRedacted || !portal.IsDoublePuppeted(evt)
		}
		for _, evt := range room.Ephemeral.Events {
			if evt.Type == event.EphemeralEventTyping && !active {
				active = br.matrixUserTyping(evt)
			}
			if raw, err := rawWithRoom(evt, roomID); err == nil {
				ephemeral = append(ephemeral, raw)
			}
		}
	}
	if len(rows) > 0 {
		inserted, err := br.storeInboxEvents(ctx, "sync:"+since, rows)
		if err != nil {
			return false, fmt.Errorf("failed to store redactions from sync: %w", err)
		}
		log.Debug().Int("redactions", len(rows)).Int("stored", inserted).Msg("Stored redactions from the bot's sync")
	}
	br.handleEphemeral(*log, ephemeral)
	return active || userRedacted, nil
}

// matrixUserTyping reports whether an m.typing event lists a user who is not the bridge's.
func (br *Bridge) matrixUserTyping(evt *event.Event) bool {
	var content struct {
		UserIDs []id.UserID `json:"user_ids"`
	}
	if json.Unmarshal(evt.Content.VeryRaw, &content) != nil {
		return false
	}
	for _, userID := range content.UserIDs {
		if !br.isBridgeUser(userID) {
			return true
		}
	}
	return false
}

// rawWithRoom encodes a sync event as a transaction would carry it: with its room ID.
func rawWithRoom(evt *event.Event, roomID id.RoomID) (json.RawMessage, error) {
	evt.RoomID = roomID
	return json.Marshal(evt)
}
