package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// WhatsApp inbox rows a previous process may have sent to Matrix.
//
// A row still pending at a start may have reached its room already: the previous process may have
// sent it and died (or been stopped) before recording that, and the homeserver may even store a
// request cut off that way seconds later. Such a row is looked for in its room before it is sent
// (portal.WithMaybeSent), and where a request for it may have been cut off, waited for up to
// resendSettle after the start. A clean stop records which pending rows some process tried to
// send and which of those had a request cut off; a row no process tried cannot be in its room and
// goes out at once, and a row whose every attempt got a clear answer is looked for once, without
// waiting. A row once cut off stays cut off until it is settled: a later clear answer says nothing
// about the request that was cut off. After a crash (no record) every row stored before the start
// is waited for.

// cleanStopKey is the bridge_state key of the clean stop record: a JSON waCleanStop. The start
// that reads it clears it, so that a crash of that process leaves no record behind; a start that
// cannot clear it fails (loadCleanStop).
const cleanStopKey = "wa_inbox_clean_stop"

// Clearing the clean stop record is tried cleanStopClearAttempts times, cleanStopClearPause apart,
// before the start gives up.
const (
	cleanStopClearAttempts = 3
	cleanStopClearPause    = 100 * time.Millisecond
)

// waCleanStop is what a clean stop records about the WhatsApp inbox: seqs of pending rows. Every
// pending row in neither list was never tried.
type waCleanStop struct {
	// Tried holds rows whose attempts all got a clear answer (nothing still on its way).
	Tried []int64 `json:"tried"`
	// CutOff holds rows a request of which may still be stored by the homeserver: cut off by a
	// stop, answered with a 5xx, or stored before an earlier crash, whatever later attempts got.
	CutOff []int64 `json:"cut_off"`
}

// maybeSentRows tracks which pending WhatsApp inbox rows may be in their rooms already.
type maybeSentRows struct {
	lock sync.Mutex
	// crashed: the previous process left no clean stop record, so every row stored before the
	// start may have been sent, and its request may still be on its way.
	crashed bool
	// before holds the rows the previous clean stop named, each mapped to whether a request for
	// it may still be on its way.
	before map[int64]bool
	// tried holds the rows this process tried and has not settled.
	tried map[int64]triedRow
}

// triedRow is what this process knows about its attempts at a row.
type triedRow struct {
	// inFlight: an attempt is under way, so a stop may cut it off.
	inFlight bool
	// cutOff: an attempt ended without a clear answer; the homeserver may still store what it
	// sent, whatever later attempts got back.
	cutOff bool
}

func newMaybeSentRows() *maybeSentRows {
	return &maybeSentRows{crashed: true, before: make(map[int64]bool), tried: make(map[int64]triedRow)}
}

// fromPreviousProcess reports whether the row with seq, stored at receivedAt, may have been sent
// by a process before the one started at startedAt, and whether a request for it may still be on
// its way into the room (then it is waited for).
func (m *maybeSentRows) fromPreviousProcess(seq int64, receivedAt, startedAt time.Time) (maybe, cutOff bool) {
	if !receivedAt.Before(startedAt) {
		return false, false
	}
	m.lock.Lock()
	defer m.lock.Unlock()
	if m.crashed {
		return true, true
	}
	cutOff, maybe = m.before[seq]
	return maybe, cutOff
}

// trying records that this process is about to send the rows with seqs.
func (m *maybeSentRows) trying(seqs ...int64) {
	m.lock.Lock()
	defer m.lock.Unlock()
	for _, seq := range seqs {
		row := m.tried[seq]
		row.inFlight = true
		m.tried[seq] = row
	}
}

// answered records the end of an attempt at the rows with seqs that left them pending: cutOff
// when the homeserver may still store what the attempt sent. A clear answer leaves a row cut off
// by an earlier attempt cut off.
func (m *maybeSentRows) answered(cutOff bool, seqs ...int64) {
	m.lock.Lock()
	defer m.lock.Unlock()
	for _, seq := range seqs {
		row := m.tried[seq]
		row.inFlight = false
		row.cutOff = row.cutOff || cutOff
		m.tried[seq] = row
	}
}

// settled forgets rows that were handled (bridged or given up).
func (m *maybeSentRows) settled(seqs ...int64) {
	m.lock.Lock()
	defer m.lock.Unlock()
	for _, seq := range seqs {
		delete(m.tried, seq)
		delete(m.before, seq)
	}
}

// record returns what a clean stop records, given the rows still pending (seq to the time each was
// stored) and when this process started. A row is cut off if any process may have had a request
// for it cut off: one still in flight here at the stop, one of this process's that got no clear
// answer, one the previous clean stop recorded, or one of a crashed process (any row stored before
// the start when there was no record).
func (m *maybeSentRows) record(pending map[int64]time.Time, startedAt time.Time) waCleanStop {
	m.lock.Lock()
	defer m.lock.Unlock()
	rec := waCleanStop{Tried: []int64{}, CutOff: []int64{}}
	for seq, receivedAt := range pending {
		row, triedHere := m.tried[seq]
		cutBefore, triedBefore := m.before[seq]
		if m.crashed && receivedAt.Before(startedAt) {
			cutBefore, triedBefore = true, true
		}
		switch {
		case !triedHere && !triedBefore:
		case row.inFlight || row.cutOff || cutBefore:
			rec.CutOff = append(rec.CutOff, seq)
		default:
			rec.Tried = append(rec.Tried, seq)
		}
	}
	slices.Sort(rec.Tried)
	slices.Sort(rec.CutOff)
	return rec
}

// loadCleanStop reads and clears the previous process's clean stop record. It runs before any
// WhatsApp connection stores rows. Without a record (a crash, a failed read, an unreadable value)
// every row stored before the start counts as maybe sent. A record that is there, or may be, must
// be cleared: left behind, it would outlive a crash of this process, and the next start would send
// the rows this process tried without looking for them in their rooms. So an error is returned
// when it cannot be cleared, and the start fails.
func (br *Bridge) loadCleanStop(ctx context.Context) error {
	log := zerolog.Ctx(ctx)
	raw, readErr := br.DB.State.Get(ctx, cleanStopKey)
	if readErr == nil && raw == "" {
		log.Debug().Msg("No clean stop record: pending WhatsApp events will be looked for in their rooms before they are sent")
		return nil
	}
	if err := br.clearCleanStop(ctx); err != nil {
		if readErr != nil {
			err = fmt.Errorf("%w (reading it failed too: %w)", err, readErr)
		}
		return err
	}
	if readErr != nil {
		log.Err(readErr).Msg("Failed to read the clean stop record; pending WhatsApp events will be looked for in their rooms")
		return nil
	}
	var rec waCleanStop
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		log.Err(err).Msg("Ignoring unreadable clean stop record; pending WhatsApp events will be looked for in their rooms")
		return nil
	}
	m := br.waMaybeSent
	m.lock.Lock()
	defer m.lock.Unlock()
	m.crashed = false
	for _, seq := range rec.Tried {
		m.before[seq] = false
	}
	for _, seq := range rec.CutOff {
		m.before[seq] = true
	}
	log.Debug().Int("tried", len(rec.Tried)).Int("cut_off", len(rec.CutOff)).Msg("Loaded the clean stop record")
	return nil
}

// clearCleanStop clears the clean stop record, retrying a failure a few times at short intervals.
func (br *Bridge) clearCleanStop(ctx context.Context) error {
	err := br.DB.State.Set(ctx, cleanStopKey, "")
	for attempt := 1; err != nil && attempt < cleanStopClearAttempts && ctx.Err() == nil; attempt++ {
		zerolog.Ctx(ctx).Warn().Err(err).Int("attempt", attempt).Msg("Failed to clear the clean stop record, retrying")
		select {
		case <-ctx.Done():
		case <-time.After(cleanStopClearPause):
			err = br.DB.State.Set(ctx, cleanStopKey, "")
		}
	}
	if err != nil {
		return fmt.Errorf("failed to clear the clean stop record of the WhatsApp inbox in the database (bridge_state key %q): %w", cleanStopKey, err)
	}
	return nil
}

// saveCleanStop writes the clean stop record once no inbox worker runs any more. A failure leaves
// no record, which the next start takes for a crash.
func (br *Bridge) saveCleanStop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pending, err := br.DB.WAInbox.PendingReceivedAt(ctx)
	var raw []byte
	if err == nil {
		raw, err = json.Marshal(br.waMaybeSent.record(pending, br.startedAt))
	}
	if err == nil {
		err = br.DB.State.Set(ctx, cleanStopKey, string(raw))
	}
	if err != nil {
		br.Log.Warn().Err(err).Msg("Failed to record the clean stop; the next start looks for pending WhatsApp events in their rooms")
	}
}
