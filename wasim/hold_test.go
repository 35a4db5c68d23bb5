package wasim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// waitHeld polls until n messages to chat are held.
func waitHeld(t *testing.T, ctx context.Context, srv *Server, chat types.JID, n int) {
	t.Helper()
	for {
		held, err := srv.HeldMessages(chat)
		if err != nil {
			t.Fatalf("HeldMessages failed: %v", err)
		} else if held == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages to %s held, want %d", held, chat, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sendAsync sends text from cli to chat with the given ID in the background; the result arrives on
// the returned channel.
func sendAsync(ctx context.Context, cli *whatsmeow.Client, to types.JID, text string, extra whatsmeow.SendRequestExtra) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := cli.SendMessage(ctx, to, textMessage(text), extra)
		done <- err
	}()
	return done
}

// TestHoldMessages: a send to a held chat waits, unacknowledged and undelivered, while the same
// connection keeps working; a resend after the client's timeout is held too; on release the
// message is delivered once and the waiting send succeeds; afterwards sends pass at once.
func TestHoldMessages(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	acct := newAccount(t, ctx, srv, "Kim")
	lea := newContact(t, ctx, srv, "Lea")
	mo := newContact(t, ctx, srv, "Mo")
	kim := pairByQR(t, ctx, srv, acct)

	if err := srv.HoldMessages(types.NewJID("4930999999", types.DefaultUserServer)); !errors.Is(err, ErrNoSuchAccount) {
		t.Fatalf("holding an unknown chat gave %v", err)
	}
	if err := srv.HoldMessages(lea.LID()); err != nil { // the LID names the same chat as the phone JID
		t.Fatalf("HoldMessages failed: %v", err)
	}
	id := kim.cli.GenerateMessageID()
	if err := <-sendAsync(ctx, kim.cli, lea.JID(), "held", whatsmeow.SendRequestExtra{ID: id, Timeout: time.Second}); !errors.Is(err, whatsmeow.ErrMessageTimedOut) {
		t.Fatalf("send to a held chat ended with %v, want a timeout", err)
	}
	resend := sendAsync(ctx, kim.cli, lea.JID(), "held", whatsmeow.SendRequestExtra{ID: id})
	waitHeld(t, ctx, srv, lea.JID(), 2)

	// The connection carries on: Kim receives, and Mo's chat is not held.
	if _, err := mo.SendText(ctx, acct.JID(), "not held"); err != nil {
		t.Fatalf("send from Mo failed: %v", err)
	}
	if _, err := kim.WaitMessage(ctx, textIs("not held")); err != nil {
		t.Fatalf("message to Kim never arrived during the hold: %v", err)
	}
	select {
	case err := <-resend:
		t.Fatalf("send to a held chat returned %v before the release", err)
	default:
	}
	if n := countText(lea.EventLog, "held"); n != 0 {
		t.Fatalf("held message delivered %d times before the release", n)
	}

	if n, err := srv.ReleaseMessages(lea.JID()); err != nil || n != 2 {
		t.Fatalf("ReleaseMessages = %d, %v; want 2 handled", n, err)
	}
	select {
	case err := <-resend:
		if err != nil {
			t.Fatalf("held send failed after the release: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("held send never returned after the release")
	}
	if _, err := lea.WaitMessage(ctx, textIs("held")); err != nil {
		t.Fatalf("released message never arrived: %v", err)
	}
	if _, err := kim.cli.SendMessage(ctx, lea.JID(), textMessage("after")); err != nil {
		t.Fatalf("send after the release failed: %v", err)
	}
	if _, err := lea.WaitMessage(ctx, textIs("after")); err != nil {
		t.Fatalf("message after the release never arrived: %v", err)
	}
	if n := countText(lea.EventLog, "held"); n != 1 {
		t.Fatalf("held message arrived %d times, want once", n)
	}
}

// TestHoldMessagesKeepsOrder: messages from several senders to a held chat are delivered in the
// order they were sent once released.
func TestHoldMessagesKeepsOrder(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	lea := newContact(t, ctx, srv, "Lea")
	senders := []*Contact{newContact(t, ctx, srv, "Mo"), newContact(t, ctx, srv, "Nia"), newContact(t, ctx, srv, "Oli")}

	if err := srv.HoldMessages(lea.JID()); err != nil {
		t.Fatal(err)
	}
	var texts []string
	var sends []<-chan error
	for i, sender := range senders {
		text := fmt.Sprintf("in order %d", i)
		texts = append(texts, text)
		sends = append(sends, sendAsync(ctx, sender.Client(), lea.JID(), text, whatsmeow.SendRequestExtra{}))
		waitHeld(t, ctx, srv, lea.JID(), i+1)
	}
	if _, err := srv.ReleaseMessages(lea.JID()); err != nil {
		t.Fatal(err)
	}
	for _, done := range sends {
		if err := <-done; err != nil {
			t.Fatalf("held send failed: %v", err)
		}
	}
	if _, err := lea.WaitMessage(ctx, textIs(texts[len(texts)-1])); err != nil {
		t.Fatalf("released message never arrived: %v", err)
	}
	if got := receivedTexts(lea, texts); fmt.Sprint(got) != fmt.Sprint(texts) {
		t.Errorf("received %v, want %v", got, texts)
	}
}

// TestControlAPIHold drives the hold through the control API.
func TestControlAPIHold(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	lea := newContact(t, ctx, srv, "Lea")
	mo := newContact(t, ctx, srv, "Mo")

	api.expect(http.StatusBadRequest, `missing field "chat"`, "POST", "/_wasim/faults/hold", `{}`, nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/faults/hold", `{"chat": "4930999999"}`, nil)
	api.expect(http.StatusNotFound, "no such group", "POST", "/_wasim/faults/hold", `{"chat": "120363000000000000@g.us"}`, nil)
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/hold", mustJSON(map[string]string{"chat": "+" + lea.JID().User}), nil)

	done := sendAsync(ctx, mo.Client(), lea.JID(), "held over http", whatsmeow.SendRequestExtra{})
	for {
		var held struct{ Messages int }
		api.expect(http.StatusOK, "", "GET", "/_wasim/faults/hold?chat="+lea.LID().String(), "", &held)
		if held.Messages == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the message was never held")
		case <-time.After(20 * time.Millisecond):
		}
	}
	var released struct{ Released int }
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/release", mustJSON(map[string]string{"chat": lea.JID().String()}), &released)
	if released.Released != 1 {
		t.Fatalf("release handled %d messages, want 1", released.Released)
	}
	if err := <-done; err != nil {
		t.Fatalf("held send failed: %v", err)
	}
	if _, err := lea.WaitMessage(ctx, textIs("held over http")); err != nil {
		t.Fatalf("released message never arrived: %v", err)
	}
	api.expect(http.StatusOK, "", "POST", "/_wasim/faults/release", mustJSON(map[string]string{"chat": lea.JID().String()}), &released)
	if released.Released != 0 {
		t.Fatalf("second release handled %d messages, want 0", released.Released)
	}
}

// receivedTexts lists, in arrival order, the texts of wanted that c received, repeats included.
func receivedTexts(c *Contact, wanted []string) []string {
	var out []string
	for _, evt := range c.All() {
		if msg, ok := evt.(*events.Message); ok && slices.Contains(wanted, MessageText(msg)) {
			out = append(out, MessageText(msg))
		}
	}
	return out
}
