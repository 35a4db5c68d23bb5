package tests

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// bridgeEdges times the latency rounds' messages where they enter and leave the bridge, from
// outside it, so that the bridge's own part of a message's latency is measured without the
// homeserver's latency around it:
//   - WhatsApp→Matrix, from the simulator writing the message to the bridge's socket
//     (wasim.Server.TapMessages) to the bridge's send request reaching the counting proxy in front of
//     the homeserver (e2e.Env.ObserveHomeserverRequests);
//   - Matrix→WhatsApp, from the homeserver's push reaching the transaction gate in front of the
//     bridge (e2e.TransactionPush.At) to the simulator reading the bridge's message from its socket.
//
// What lies in between is an upper bound on the bridge's part: its socket reads, whatsmeow's
// decryption and encryption, its database, its queues and its HTTP handling, and also the gate's
// forwarding and any request the bridge makes on the message's way (an IQ to the simulator, a
// homeserver request a new room or ghost needs; none in the latency rounds' settled portal). Each
// time is taken on the outer side of the bridge's edge (before the simulator writes, after the
// proxy or simulator received), so that a slow goroutine in the benchmark can only make the
// bridge's part look longer, never shorter: a negative part fails the benchmark.
type bridgeEdges struct {
	// device is the user's WhatsApp account (its phone number JID); the bridge is its companion
	// device, the only one of the account's devices with a connection of its own.
	device types.JID

	lock sync.Mutex
	// toBridge and fromBridge are when the simulator wrote a message (by WhatsApp message ID) to
	// the bridge's device and read one from it; sends is when the bridge's m.room.message send
	// request with a body reached the proxy.
	toBridge, fromBridge, sends map[string]time.Time
}

// edgesDetail explains the figures timed at the bridge's edges, by direction.
var edgesDetail = map[string]string{
	dirW2M: "from the simulator writing the message to the bridge's socket until the bridge's send request reached the proxy in front of the homeserver",
	dirM2W: "from the homeserver's push reaching the proxy in front of the bridge until the simulator read the bridge's message from its socket",
}

// watchBridgeEdges starts timing; stop ends it.
func (pe *perfEnv) watchBridgeEdges(t testing.TB) (edges *bridgeEdges, stop func()) {
	t.Helper()
	edges = &bridgeEdges{device: pe.alice.acct.JID(), toBridge: make(map[string]time.Time), fromBridge: make(map[string]time.Time), sends: make(map[string]time.Time)}
	own := edges.device
	pe.WA.TapMessages(func(tap wasim.MessageTap) {
		if tap.Device.User != own.User || tap.Device.Device == 0 {
			return
		}
		edges.lock.Lock()
		defer edges.lock.Unlock()
		seen := edges.fromBridge
		if tap.Out {
			seen = edges.toBridge
		}
		if _, ok := seen[tap.ID]; !ok {
			seen[tap.ID] = tap.At
		}
	})
	pe.ObserveHomeserverRequests(func(req e2e.HomeserverRequest) {
		if !strings.Contains(req.Path, "/send/m.room.message/") {
			return
		}
		var content struct {
			Body string `json:"body"`
		}
		if json.Unmarshal(req.Body, &content) != nil || content.Body == "" {
			return
		}
		edges.lock.Lock()
		defer edges.lock.Unlock()
		if _, ok := edges.sends[content.Body]; !ok {
			edges.sends[content.Body] = req.At
		}
	})
	return edges, func() {
		pe.WA.TapMessages(nil)
		pe.ObserveHomeserverRequests(nil)
	}
}

// whatsAppToMatrix returns the bridge's part of a WhatsApp→Matrix round: from the message with
// ID waID reaching the bridge's socket until its send request with body reached the homeserver's
// proxy.
func (e *bridgeEdges) whatsAppToMatrix(t testing.TB, waID types.MessageID, body string) time.Duration {
	t.Helper()
	e.lock.Lock()
	defer e.lock.Unlock()
	in, ok := e.toBridge[waID]
	if !ok {
		t.Fatalf("the simulator never wrote message %s (%q) to the bridge's device", waID, body)
	}
	out, ok := e.sends[body]
	if !ok {
		t.Fatalf("the bridge's send of %q never reached the homeserver's proxy", body)
	}
	if out.Before(in) {
		t.Fatalf("the bridge's send of %q reached the homeserver's proxy %s before the simulator wrote the message", body, in.Sub(out))
	}
	return out.Sub(in)
}

// pushTimes maps the body of every event in pushes to when the first push holding it reached the
// transaction gate.
func pushTimes(pushes []e2e.TransactionPush) map[string]time.Time {
	times := make(map[string]time.Time)
	for _, push := range pushes {
		var txn struct {
			Events []struct {
				Content struct {
					Body string `json:"body"`
				} `json:"content"`
			} `json:"events"`
		}
		if json.Unmarshal(push.Body, &txn) != nil {
			continue
		}
		for _, evt := range txn.Events {
			if at, ok := times[evt.Content.Body]; evt.Content.Body != "" && (!ok || push.At.Before(at)) {
				times[evt.Content.Body] = push.At
			}
		}
	}
	return times
}

// matrixToWhatsApp returns the bridge's part of a Matrix→WhatsApp round: from the first push
// holding the event with body reaching the transaction gate (pushed, from pushTimes) until the
// simulator read the bridge's message for eventID (its ID is portal.OutgoingMessageID).
func (e *bridgeEdges) matrixToWhatsApp(t testing.TB, pushed map[string]time.Time, eventID id.EventID, body string) time.Duration {
	t.Helper()
	in, ok := pushed[body]
	if !ok {
		t.Fatalf("no push of the homeserver held %q", body)
	}
	waID := portal.OutgoingMessageID(e.device, eventID)
	e.lock.Lock()
	defer e.lock.Unlock()
	out, ok := e.fromBridge[waID]
	if !ok {
		t.Fatalf("the simulator never read the bridge's message %s (%q)", waID, body)
	}
	if out.Before(in) {
		t.Fatalf("the simulator read the bridge's message %s (%q) %s before the push reached the gate", waID, body, in.Sub(out))
	}
	return out.Sub(in)
}
