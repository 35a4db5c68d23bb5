package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestMissedMessageReport: a chat's room already shows a live message when the phone's history
// for it arrives. The history message newer than it, which never came live, fills the gap in
// order; the two older ones cannot be placed above the live message and are reported in one
// notice saying how many from when.
func TestMissedMessageReport(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	acct, err := env.WA.CreateAccount(ctx, "4915112400301", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	carol, carolGhost := newContact(t, ctx, env, "4917600000601", "Carol")
	old := time.Date(2025, time.March, 3, 9, 15, 0, 0, time.UTC)
	later := time.Now().Add(3 * time.Minute).Truncate(time.Second)
	_, err = acct.AddHistory(
		wasim.HistoryMessage{Chat: carol.JID(), PushName: "Carol", Timestamp: old, Message: historyText("old one")},
		wasim.HistoryMessage{Chat: carol.JID(), PushName: "Carol", Timestamp: old.Add(20 * time.Minute), Message: historyText("old two")},
		wasim.HistoryMessage{Chat: carol.JID(), PushName: "Carol", Timestamp: later, Message: historyText("never came live")},
		// The most recent chat, alone in the bootstrap.
		wasim.HistoryMessage{Chat: types.NewJID("4915550990301", types.DefaultUserServer), Timestamp: later.Add(time.Minute), Message: historyText("newest chat")},
	)
	if err != nil {
		t.Fatal(err)
	}
	acct.SetHistorySyncOptions(wasim.HistorySyncOptions{BootstrapChats: 1, HoldLast: true})
	alice := logInAccount(t, ctx, env, "alice", acct)
	if _, err = carol.SendText(ctx, acct.JID(), "live first"); err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, "live first"))
	// The phone sends its bootstrap before the held chunk, as a phone that went offline after it.
	waitFor(t, ctx, "the phone to send its bootstrap", func() bool {
		return acct.Phone().Count(func(evt any) bool {
			s, ok := evt.(*wasim.HistorySyncSent)
			return ok && s.SyncType == waHistorySync.HistorySync_INITIAL_BOOTSTRAP
		}) == 1
	})
	waitFor(t, ctx, "the phone to send the rest of its history", func() bool {
		err := acct.SendHeldHistory(ctx)
		if err != nil && !errors.Is(err, wasim.ErrNoHeldHistory) {
			t.Fatal(err)
		}
		return err == nil
	})
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Your history is here"))
	gap := env.WaitForMessage(ctx, alice.client, room, botNotice(env.Env, "could not be brought over"))
	if want := "2 messages of this chat from 2025-03-03 09:15 to 2025-03-03 09:35 UTC could not be brought over"; !strings.HasPrefix(gap.Content.AsMessage().Body, want) {
		t.Errorf("gap notice %q, want it to start %q", gap.Content.AsMessage().Body, want)
	}
	var got []string
	for _, evt := range messagesOf(t, ctx, alice, room) {
		if evt.Type == event.EventMessage {
			body, _, _ := strings.Cut(evt.Content.AsMessage().Body, " of this chat")
			got = append(got, body)
		}
	}
	if want := []string{"live first", "never came live", "2 messages"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("room shows %q, want %q", got, want)
	}
}

// TestUndecryptableGivenUp: a message nobody can resend (the sender stays offline, the phone could
// not decrypt it either) shows its placeholder until bridge.undecryptable_wait has passed; then the
// placeholder is removed and the room says one message from then could not be brought over.
func TestUndecryptableGivenUp(t *testing.T) {
	e2e.SkipInShortMode(t)
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "bridge.undecryptable_wait", 4)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112400302")
	carol, carolGhost := newContact(t, ctx, env, "4917600000602", "Carol")
	if _, err := alice.acct.Phone().SendText(ctx, carol.JID(), "Hi Carol"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	if _, err := carol.SendText(ctx, alice.acct.JID(), "Hi Alice"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Hi Alice"))

	if err := alice.acct.BreakNextMessage(carol.JID(), wasim.Undecryptable{Kind: wasim.Corrupted, Phone: true, SenderOffline: true}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now().UTC()
	if _, err := carol.SendText(ctx, alice.acct.JID(), "Lost for good"); err != nil {
		t.Fatal(err)
	}
	placeholder := env.WaitForMessage(ctx, alice.client, dm, isPlaceholder(carolGhost))
	report := env.WaitForMessage(ctx, alice.client, dm, botNotice(env.Env, "1 message of this chat from", "could not be brought over: WhatsApp could not decrypt"))
	if body := report.Content.AsMessage().Body; !strings.Contains(body, sent.Format("from 2006-01-02 15:04")) &&
		!strings.Contains(body, sent.Add(time.Minute).Format("from 2006-01-02 15:04")) {
		t.Errorf("report %q does not say the message was from about %s", report.Content.AsMessage().Body, sent.Format("2006-01-02 15:04"))
	}
	if report.Timestamp-placeholder.Timestamp < 4000 {
		t.Errorf("gave up %d ms after the placeholder, before bridge.undecryptable_wait", report.Timestamp-placeholder.Timestamp)
	}
	timeline, err := e2e.Timeline(ctx, alice.client, dm, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, evt := range timeline {
		if evt.ID == placeholder.ID && evt.Content.AsMessage().Body != "" {
			t.Errorf("the placeholder still reads %q", evt.Content.AsMessage().Body)
		}
	}
	if _, err = carol.SendText(ctx, alice.acct.JID(), "Still here"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Still here"))
}
