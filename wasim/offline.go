package wasim

import (
	"fmt"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// What WhatsApp does with a device that was away:
//   - When it comes back (its <active/>), the server first announces what waits for it with
//     <ib><offline_preview count message notification receipt appdata/></ib> (whatsmeow's
//     events.OfflineSyncPreview), then writes the queue, then <ib><offline count/></ib>
//     (events.OfflineSyncCompleted).
//   - Queued stanzas do not wait forever: WhatsApp keeps them for about 30 days. SetQueueExpiry
//     compresses that for tests.
//   - A companion whose phone has not seen it for about 14 days is logged out by the phone: its next
//     login gets <failure reason=401> (events.LoggedOut{OnConnect: true}) and the device is gone
//     from the account's device list. SetCompanionOfflineLimit compresses that for tests.

// offlinePolicy holds the server-wide limits above. Guarded by stateLock.
type offlinePolicy struct {
	queueExpiry  time.Duration // 0: queued stanzas never expire
	offlineLimit time.Duration // 0: companions are never logged out for being away
}

// SetQueueExpiry drops queued stanzas older than d instead of delivering them when their device
// comes back (0 keeps them forever, the default). The drop happens at the device's next flush.
func (s *Server) SetQueueExpiry(d time.Duration) {
	s.stateLock.Lock()
	s.offline.queueExpiry = max(d, 0)
	s.stateLock.Unlock()
	s.log.Info().Dur("expiry", d).Msg("Offline queue expiry changed")
}

// SetCompanionOfflineLimit makes the phone log out a companion (any device but 0) that has been
// disconnected for longer than d: its next login is refused with 401 and the device removed, as
// WhatsApp does after 14 days. 0 turns this off (the default).
func (s *Server) SetCompanionOfflineLimit(d time.Duration) {
	s.stateLock.Lock()
	s.offline.offlineLimit = max(d, 0)
	s.stateLock.Unlock()
	s.log.Info().Dur("limit", d).Msg("Companion offline limit changed")
}

// noteOfflineLocked records that dev lost its connection now. Caller holds stateLock.
func (s *Server) noteOfflineLocked(dev *device) {
	f := &dev.acct.faults
	if f.offlineSince == nil {
		f.offlineSince = make(map[uint16]time.Time)
	}
	f.offlineSince[dev.id] = time.Now()
}

// offlineTooLongLocked reports whether the companion dev has been offline past the limit. A device
// that never disconnected, or is connected, is not. Caller holds stateLock.
func (s *Server) offlineTooLongLocked(dev *device) bool {
	limit := s.offline.offlineLimit
	if limit <= 0 || dev.id == 0 || dev.conn != nil {
		return false
	}
	since, ok := dev.acct.faults.offlineSince[dev.id]
	return ok && time.Since(since) > limit
}

// expireQueueLocked drops the device's queued stanzas older than the queue expiry and returns how
// many it dropped. Caller holds stateLock.
func (s *Server) expireQueueLocked(dev *device) int {
	expiry := s.offline.queueExpiry
	if expiry <= 0 {
		return 0
	}
	cutoff := time.Now().Add(-expiry)
	kept := dev.queue[:0]
	for _, q := range dev.queue {
		if q.queuedAt.After(cutoff) {
			kept = append(kept, q)
		}
	}
	dropped := len(dev.queue) - len(kept)
	clear(dev.queue[len(kept):])
	dev.queue = kept
	if dropped > 0 {
		s.log.Info().Str("device", deviceJID(dev.acct.pn, dev.id).String()).Int("dropped", dropped).Msg("Expired queued stanzas")
	}
	return dropped
}

// offlinePreview is the <ib><offline_preview/></ib> announcing a non-empty queue by class.
func offlinePreview(queue []*queued) (waBinary.Node, bool) {
	counts := map[string]int{}
	for _, q := range queue {
		counts[q.class]++
	}
	if len(queue) == 0 {
		return waBinary.Node{}, false
	}
	return waBinary.Node{Tag: "ib", Content: []waBinary.Node{{Tag: "offline_preview", Attrs: waBinary.Attrs{
		"count":        fmt.Sprint(len(queue)),
		"message":      fmt.Sprint(counts["message"]),
		"notification": fmt.Sprint(counts["notification"]),
		"receipt":      fmt.Sprint(counts["receipt"]),
		"appdata":      "0",
	}}}}, true
}
