package tests

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestResendAfterRestart: a contact's phone lost its Signal session with the bridge's device and
// was offline when the user's message went out; when it comes back it cannot decrypt the message
// and asks for it again (a retry receipt). The bridge restarted in between, so only the copy kept
// in its database can answer: the contact still gets the message, once.
func TestResendAfterRestart(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	companion := companionDevice(t, alice.acct)
	carol, _, dm := openDMSaying(t, ctx, env, alice, "4917600000002", "Carol", "hello")
	if _, err := alice.client.SendText(ctx, dm, "first answer"); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "first answer")
	waitFor(t, ctx, "the contact's phone to acknowledge everything", func() bool {
		return len(carol.Account().Unacknowledged(0)) == 0
	})

	// The contact's phone forgets its session with the bridge's device and goes offline.
	for _, user := range []types.JID{alice.acct.LID(), alice.acct.JID()} {
		addr := types.JID{User: user.User, Server: user.Server, Device: companion}
		if err := carol.Client().Store.Sessions.DeleteSession(ctx, addr.SignalAddress().String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := carol.SetOnline(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the contact's phone to be offline", func() bool { return !carol.Account().Online(0) })
	const text = "sent before the restart"
	if _, err := alice.client.SendText(ctx, dm, text); err != nil {
		t.Fatal(err)
	}
	var msgID types.MessageID
	waitFor(t, ctx, "the bridge to send the message to the contact's offline phone", func() bool {
		if ids := carol.Account().Unacknowledged(0); len(ids) > 0 {
			msgID = ids[0]
			return true
		}
		return false
	})

	if n := carol.Count(func(evt any) bool { return eventID(evt) == msgID }); n != 0 {
		t.Fatalf("the offline phone already has the message (%d events), nothing is left to resend", n)
	}
	env.RestartBridge()
	if err := carol.SetOnline(ctx, true); err != nil {
		t.Fatal(err)
	}
	got := waitWAText(t, ctx, carol, text)
	if got.Info.ID != msgID {
		t.Errorf("the contact got %q as %s, want the message %s the bridge sent before the restart", text, got.Info.ID, msgID)
	}
	if _, err := carol.WaitEvent(ctx, func(evt any) bool {
		u, ok := evt.(*events.UndecryptableMessage)
		return ok && u.Info.ID == msgID
	}); err != nil {
		t.Errorf("the contact's first copy was not undecryptable, so no resend was needed: %v", err)
	}
	// Exactly once: a later message comes after it with nothing in between.
	if _, err := alice.client.SendText(ctx, dm, "after the resend"); err != nil {
		t.Fatal(err)
	}
	waitWAText(t, ctx, carol, "after the resend")
	if n := carol.Count(func(evt any) bool {
		m, ok := evt.(*events.Message)
		return ok && wasim.MessageText(m) == text
	}); n != 1 {
		t.Errorf("the contact got the message %d times, want once", n)
	}
}

// eventID is the message ID of a whatsmeow message event, decrypted or not ("" for other events).
func eventID(evt any) types.MessageID {
	switch evt := evt.(type) {
	case *events.Message:
		return evt.Info.ID
	case *events.UndecryptableMessage:
		return evt.Info.ID
	}
	return ""
}
