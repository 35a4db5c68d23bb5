package wasim

import (
	"fmt"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Every stanza for a device goes through its queue. It is written to the device's connection at
// once when that connection is active and stays queued until the device settles it:
//   - a message by any receipt or message ack for its id (success, retry and nack alike),
//   - a receipt or notification by the matching ack (same id, type, from and participant).
//
// On each new login, after the client's <active/>, everything still queued is written again in
// order. whatsmeow ignores byte-identical redeliveries it already decrypted, so at-least-once
// delivery here gives exactly-once events on the client.
type queued struct {
	class string // message, receipt or notification
	id    string
	typ   string
	from  string // from + participant, to tell receipts of several senders apart
	node  waBinary.Node
	// due is when the stanza may be written live (later than enqueueing under a delivery delay);
	// sent says it was written on the current connection.
	due  time.Time
	sent bool
	// queuedAt is when the stanza was queued, for the queue expiry (offline.go).
	queuedAt time.Time
}

func stanzaKey(node *waBinary.Node, fromAttr string) string {
	return fmt.Sprint(node.Attrs[fromAttr], "|", node.Attrs["participant"])
}

// enqueueLocked queues node for dev and writes it if dev is online. Caller holds stateLock.
func (s *Server) enqueueLocked(dev *device, node waBinary.Node) {
	node, deliver := s.undecryptableLocked(dev, node) // undecryptable.go
	if !deliver {
		return
	}
	typ, _ := node.Attrs["type"].(string)
	q := &queued{class: node.Tag, id: node.Attrs["id"].(string), typ: typ, from: stanzaKey(&node, "from"), node: node, queuedAt: time.Now()}
	if node.Tag == "message" {
		q.typ = ""
	}
	if delay := s.deliveryDelay; delay > 0 {
		q.due = time.Now().Add(delay)
		time.AfterFunc(delay, func() {
			s.stateLock.Lock()
			defer s.stateLock.Unlock()
			s.sendDueLocked(dev)
		})
	}
	dev.queue = append(dev.queue, q)
	s.sendDueLocked(dev)
}

// sendDueLocked writes the device's queued stanzas that are due and not yet written, in queue
// order: a stanza still held back by a delivery delay holds back the ones after it. Caller holds
// stateLock.
func (s *Server) sendDueLocked(dev *device) {
	if dev.conn == nil || !dev.conn.active {
		return
	}
	now := time.Now()
	for _, q := range dev.queue {
		if q.sent {
			continue
		}
		if q.due.After(now) {
			return
		}
		dev.conn.send(q.node)
		q.sent = true
	}
}

// SetDeliveryDelay holds every stanza back for d before it is written to an online device (0 turns
// the delay off). Order is kept. Stanzas queued for a device that reconnects are flushed at once.
func (s *Server) SetDeliveryDelay(d time.Duration) {
	s.stateLock.Lock()
	s.deliveryDelay = d
	s.stateLock.Unlock()
	s.log.Info().Dur("delay", d).Msg("Delivery delay changed")
}

// settleLocked drops queued stanzas that match. For messages, only class and id count, and one
// receipt or ack settles one copy: the oldest one written, else the oldest one (with repeats
// delivered, SetDeliverRepeats, a device may have two copies of one ID queued, and the receipt for
// the first must not drop the second before it was written). Caller holds stateLock.
func (s *Server) settleLocked(dev *device, class, id, typ, from string) int {
	if class == "message" {
		return settleOneMessage(dev, id)
	}
	n := 0
	kept := dev.queue[:0]
	for _, q := range dev.queue {
		if q.class == class && q.id == id && q.typ == typ && q.from == from {
			n++
		} else {
			kept = append(kept, q)
		}
	}
	clear(dev.queue[len(kept):])
	dev.queue = kept
	return n
}

// settleOneMessage drops the oldest written queued copy of message id, else its oldest copy, and
// says how many it dropped (0 or 1).
func settleOneMessage(dev *device, id string) int {
	pick := -1
	for i, q := range dev.queue {
		if q.class != "message" || q.id != id {
			continue
		}
		if q.sent {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	if pick < 0 {
		return 0
	}
	last := len(dev.queue) - 1
	copy(dev.queue[pick:], dev.queue[pick+1:])
	dev.queue[last] = nil
	dev.queue = dev.queue[:last]
	return 1
}

// flushLocked drops what expired from the connection's device's queue, announces the rest with an
// offline preview, writes it, then tells the client the offline batch is over. Caller holds
// stateLock.
func (c *conn) flushLocked() {
	dev := c.dev
	if dev == nil {
		return
	}
	c.srv.expireQueueLocked(dev)
	if preview, ok := offlinePreview(dev.queue); ok {
		c.send(preview)
	}
	count := 0
	for _, q := range dev.queue {
		c.send(q.node)
		q.sent = true
		if q.class == "message" {
			count++
		}
	}
	c.send(waBinary.Node{Tag: "ib", Content: []waBinary.Node{{
		Tag: "offline", Attrs: waBinary.Attrs{"count": fmt.Sprint(count)},
	}}})
}

// QueueLength reports how many stanzas wait for the given device of the account.
func (a *Account) QueueLength(deviceID uint16) int {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	if dev := a.devices[deviceID]; dev != nil {
		return len(dev.queue)
	}
	return 0
}

// Unacknowledged returns the IDs of the messages queued for the given device of the account that
// the device has not settled yet (by a receipt or an ack for the message), in the order they were
// queued: what it has not received, or received and not acknowledged. A client acknowledging with
// SynchronousAck settles a message only once its event handler returned.
func (a *Account) Unacknowledged(deviceID uint16) []types.MessageID {
	a.srv.stateLock.Lock()
	defer a.srv.stateLock.Unlock()
	dev := a.devices[deviceID]
	if dev == nil {
		return nil
	}
	var ids []types.MessageID
	for _, q := range dev.queue {
		if q.class == "message" {
			ids = append(ids, q.id)
		}
	}
	return ids
}

// idSet remembers the most recent message ids a device sent, to drop resends of the same message.
type idSet struct {
	items map[string]struct{}
	order []string
	limit int
}

func newIDSet(limit int) *idSet {
	return &idSet{items: make(map[string]struct{}), limit: limit}
}

// add records id and reports whether it was new.
func (s *idSet) add(id string) bool {
	if _, ok := s.items[id]; ok {
		return false
	}
	s.items[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.limit {
		delete(s.items, s.order[0])
		s.order = s.order[1:]
	}
	return true
}
