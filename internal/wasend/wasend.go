// Package wasend sends WhatsApp messages with whatsmeow in a way that cannot crash the process, and
// marks each send for internal/sessionlock. The bridge (whatsapp.LeaseEndingClient) and the
// simulator's phones (wasim) send through it.
package wasend

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/sessionlock"
)

// result is what a whatsmeow send returned.
type result struct {
	resp whatsmeow.SendResponse
	err  error
}

// Message is cli.SendMessage(ctx, to, msg, extra...) marked as a send for internal/sessionlock
// (BeginSend, EndSend: the Signal session leases the send takes outlive the lease timeout while it
// runs, and those it did not advance end when it returns).
//
// It returns ctx's error as soon as ctx ends, but whatsmeow's send is not cancelled: its
// Client.SendMessage, when its context ends, closes the channel the server's answer is delivered on
// (Client.cancelResponse), while the frame reader may have taken that channel from the waiting list
// a moment before and be about to send the answer on it (Client.receiveResponse). A send on a closed
// channel panics the reader's goroutine, and with it the whole process. So whatsmeow gets a context
// that never ends (ctx's values kept), and its send carries on in the background until the answer
// comes, its own timeout passes (extra's Timeout, whatsmeow's 75 s when zero) or the connection
// drops (whatsmeow then hands every waiting send the disconnection under its lock, which is safe).
// Its timeout stays: whatsmeow holds its client-wide send lock until the answer, so a send without
// one would stall every later send of the account for as long as WhatsApp does not answer. The
// timeout closes the channel too, but only after whatsmeow waited its full length; an answer coming
// within the same microseconds is not a risk worth the stall.
//
// A send the caller gave up on may still reach WhatsApp, even one whose context had ended before
// the call; a retry with the same message ID does not show it twice. A panic inside whatsmeow's
// send is returned as an error. Wait waits for a client's sends that outlived their callers.
func Message(ctx context.Context, cli *whatsmeow.Client, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	begin(cli)
	done := make(chan result, 1)
	go func() {
		r := send(context.WithoutCancel(ctx), cli, to, msg, extra)
		// The send no longer counts as running once its answer can be read: a caller that got
		// the answer finds no send of its own left (Wait).
		end(cli)
		done <- r
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // the answer came at the same moment: it is not lost
			return r.resp, r.err
		default:
			return whatsmeow.SendResponse{}, ctx.Err()
		}
	}
}

// send runs whatsmeow's send on the calling goroutine. A panic in it is returned as an error, as
// it was when the send ran on the caller's goroutine (whose worker recovers); whatsmeow releases
// its locks with defer.
func send(ctx context.Context, cli *whatsmeow.Client, to types.JID, msg *waE2E.Message, extra []whatsmeow.SendRequestExtra) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{err: fmt.Errorf("whatsmeow send panicked: %v\n%s", p, debug.Stack())}
		}
	}()
	// BeginSend and EndSend belong to the goroutine that runs the send.
	sessionlock.BeginSend(cli.Store)
	defer sessionlock.EndSend(cli.Store)
	resp, err := cli.SendMessage(ctx, to, msg, extra...)
	return result{resp, err}
}

// sends is one client's sends still running: n of them; idle is closed when the last one ends.
type sends struct {
	n    int
	idle chan struct{}
}

// running holds the clients with sends still running, for Wait. A client's entry goes when its
// last send ends, so that the map does not keep a client the bridge has let go of (a replaced
// connection's, say) with everything it references.
var (
	runningLock sync.Mutex
	running     = map[*whatsmeow.Client]*sends{}
)

// begin counts a send of cli as running.
func begin(cli *whatsmeow.Client) {
	runningLock.Lock()
	defer runningLock.Unlock()
	s := running[cli]
	if s == nil {
		s = &sends{idle: make(chan struct{})}
		running[cli] = s
	}
	s.n++
}

// end counts a send of cli as ended.
func end(cli *whatsmeow.Client) {
	runningLock.Lock()
	defer runningLock.Unlock()
	s := running[cli]
	if s.n--; s.n == 0 {
		close(s.idle)
		delete(running, cli)
	}
}

// Wait waits until every send of cli that Message started before the call has ended, or for
// timeout. Call it after cli.Disconnect (whatsmeow then ends every send waiting for an answer),
// before the store's database closes or the device is deleted: a send whose caller gave up may
// still be encrypting and storing Signal sessions. It reports whether they all ended.
func Wait(cli *whatsmeow.Client, timeout time.Duration) bool {
	runningLock.Lock()
	s := running[cli]
	runningLock.Unlock()
	if s == nil {
		return true
	}
	select {
	case <-s.idle:
		return true
	case <-time.After(timeout):
		return false
	}
}

// PeerMessage is Message for a message to the account's own phone (whatsmeow's
// Client.SendPeerMessage: SendMessage to the own JID with Peer set). It returns
// whatsmeow.ErrNotLoggedIn when cli has no device JID yet.
func PeerMessage(ctx context.Context, cli *whatsmeow.Client, msg *waE2E.Message) (whatsmeow.SendResponse, error) {
	own := cli.Store.GetJID().ToNonAD()
	if own.IsEmpty() {
		return whatsmeow.SendResponse{}, whatsmeow.ErrNotLoggedIn
	}
	return Message(ctx, cli, own, msg, whatsmeow.SendRequestExtra{Peer: true})
}
