package wasend_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/wasend"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

// linked pairs a whatsmeow client (standing in for the bridge) with a new simulated account and
// returns it with a contact of the account's to send to.
func linked(t *testing.T, ctx context.Context) (*wasim.Server, *whatsmeow.Client, *wasim.Contact) {
	t.Helper()
	nop := zerolog.Nop()
	srv, err := wasim.New(ctx, wasim.Options{Log: &nop})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	acct, err := srv.CreateAccount(ctx, "+49 151 0000001", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateContact(ctx, "+49 151 0000002", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	container, err := wasim.OpenStore(ctx, filepath.Join(t.TempDir(), "bridge.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := container.GetFirstDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli := srv.NewClient(dev)
	received := wasim.NewEventLog()
	cli.AddEventHandler(received.Add)
	if err = cli.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cli.Disconnect)
	qr, err := received.WaitEvent(ctx, func(evt any) bool { _, ok := evt.(*events.QR); return ok })
	if err != nil {
		t.Fatal(err)
	}
	if err = acct.ScanQR(ctx, qr.(*events.QR).Codes[0]); err != nil {
		t.Fatal(err)
	}
	if _, err = received.WaitEvent(ctx, func(evt any) bool { _, ok := evt.(*events.Connected); return ok }); err != nil {
		t.Fatal(err)
	}
	return srv, cli, bob
}

func text(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

// received counts the messages with the given text that reached c.
func received(c *wasim.Contact, body string) int {
	return c.Count(func(evt any) bool {
		msg, ok := evt.(*events.Message)
		return ok && wasim.MessageText(msg) == body
	})
}

// waitReceived waits until every text in bodies reached c once, and fails if one arrived twice.
func waitReceived(t *testing.T, ctx context.Context, c *wasim.Contact, bodies []string) {
	t.Helper()
	for {
		missing := 0
		for _, body := range bodies {
			switch n := received(c, body); {
			case n > 1:
				t.Fatalf("%q arrived %d times", body, n)
			case n == 0:
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d messages never arrived", missing, len(bodies))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitHeld waits until the simulator holds n messages to chat.
func waitHeld(t *testing.T, ctx context.Context, srv *wasim.Server, chat types.JID, n int) {
	t.Helper()
	for {
		held, err := srv.HeldMessages(chat)
		if err != nil {
			t.Fatal(err)
		} else if held == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages held, want %d", held, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestGivingUpLeavesTheSendToFinish: a send whose caller's context ends while WhatsApp has not
// answered returns at once, and the message still goes out, once, when WhatsApp accepts it; a send
// whose timeout passes first returns whatsmeow's timeout error and no longer holds up later sends.
func TestGivingUpLeavesTheSendToFinish(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, cli, bob := linked(t, ctx)
	if err := srv.HoldMessages(bob.JID()); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if _, err := wasend.Message(ctx, cli, bob.JID(), text("timed out"), whatsmeow.SendRequestExtra{Timeout: 300 * time.Millisecond}); !errors.Is(err, whatsmeow.ErrMessageTimedOut) {
		t.Fatalf("send with a 300-ms timeout returned %v, want whatsmeow.ErrMessageTimedOut", err)
	} else if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("send with a 300-ms timeout returned after %v", took)
	}

	sendCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := wasend.Message(sendCtx, cli, bob.JID(), text("cancelled"))
		done <- err
	}()
	waitHeld(t, ctx, srv, bob.JID(), 2)
	stop()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled send returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled send did not return")
	}
	if n, err := srv.ReleaseMessages(bob.JID()); err != nil || n != 2 {
		t.Fatalf("ReleaseMessages = %d, %v; want the 2 sends held", n, err)
	}
	waitReceived(t, ctx, bob, []string{"timed out", "cancelled"})
	// The cancelled send ends with WhatsApp's answer, and the next send goes through.
	if _, err := wasend.Message(ctx, cli, bob.JID(), text("after")); err != nil {
		t.Fatalf("send after the release failed: %v", err)
	}
	waitReceived(t, ctx, bob, []string{"after"})
}

// TestCancelRacingTheAnswer: sends whose caller gives up at any moment, before, during or right
// after WhatsApp's answer, neither crash the process (whatsmeow's own cancellation can panic its
// frame reader then; under the race detector it is reported as a race) nor lose a message.
func TestCancelRacingTheAnswer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, cli, bob := linked(t, ctx)
	// Learn how long a send takes here, then cancel sends at moments spread over that time.
	start := time.Now()
	if _, err := wasend.Message(ctx, cli, bob.JID(), text("first")); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	const sends = 60
	bodies := []string{"first"}
	for i := range sends {
		body := fmt.Sprintf("message %d", i)
		bodies = append(bodies, body)
		sendCtx, stop := context.WithTimeout(ctx, took*time.Duration(i)/sends*2)
		_, err := wasend.Message(sendCtx, cli, bob.JID(), text(body), whatsmeow.SendRequestExtra{ID: types.MessageID(fmt.Sprintf("3EB0%016X", i))})
		stop()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	waitReceived(t, ctx, bob, bodies)
}

// TestSendEdges: a panic inside
// whatsmeow's send is the caller's error, not the process's end; Wait returns once the sends a
// disconnect interrupted have ended.
func TestSendEdges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, cli, bob := linked(t, ctx)

	// whatsmeow dereferences the message without a check: a nil one panics inside its send.
	if _, err := wasend.Message(ctx, cli, bob.JID(), nil); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("sending a nil message returned %v, want the panic as an error", err)
	}

	if _, err := wasend.Message(ctx, cli, bob.JID(), text("sent")); err != nil {
		t.Fatal(err)
	}
	waitReceived(t, ctx, bob, []string{"sent"})

	if err := srv.HoldMessages(bob.JID()); err != nil {
		t.Fatal(err)
	}
	sendCtx, stopSend := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := wasend.Message(sendCtx, cli, bob.JID(), text("interrupted"))
		done <- err
	}()
	waitHeld(t, ctx, srv, bob.JID(), 1)
	stopSend()
	<-done
	if wasend.Wait(cli, 200*time.Millisecond) {
		t.Fatal("Wait returned while a send was still waiting for WhatsApp's answer")
	}
	cli.Disconnect()
	if !wasend.Wait(cli, 20*time.Second) {
		t.Fatal("a send was still running 20 s after the disconnect")
	}
}

// TestDisappearingTimerIsASend: the bridge's disappearing-timer change in a one-to-one chat is a
// message, and it goes through wasend like every other: a caller that gives up gets its context's
// error at once, the send still counts for Wait until WhatsApp answers, and the contact's phone
// gets the new timer once.
func TestDisappearingTimerIsASend(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, cli, bob := linked(t, ctx)
	if err := srv.HoldMessages(bob.JID()); err != nil {
		t.Fatal(err)
	}
	sendCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- whatsapp.LeaseEndingClient{Client: cli}.SetDisappearingTimer(sendCtx, bob.JID(), 24*time.Hour, time.Time{})
	}()
	waitHeld(t, ctx, srv, bob.JID(), 1)
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled timer change returned %v, want context.Canceled", err)
	}
	if wasend.Wait(cli, 200*time.Millisecond) {
		t.Fatal("the timer change stopped waiting for WhatsApp's answer when its caller gave up")
	}
	if _, err := srv.ReleaseMessages(bob.JID()); err != nil {
		t.Fatal(err)
	}
	if !wasend.Wait(cli, 20*time.Second) {
		t.Fatal("the timer change was still running 20 s after WhatsApp got it")
	}
	settings := func() int {
		return bob.Count(func(evt any) bool {
			msg, ok := evt.(*events.Message)
			if !ok {
				return false
			}
			pm := msg.Message.GetProtocolMessage()
			return pm.GetType() == waE2E.ProtocolMessage_EPHEMERAL_SETTING && pm.GetEphemeralExpiration() == 86400
		})
	}
	for settings() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the contact never got the one-day timer")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if n := settings(); n != 1 {
		t.Fatalf("the contact got the timer %d times", n)
	}
}
