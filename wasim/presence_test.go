package wasim

import (
	"context"
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// presenceOf matches a presence event from jid with the given availability.
func presenceOf(jid types.JID, available bool) func(*events.Presence) bool {
	return func(evt *events.Presence) bool { return evt.From == jid && evt.Unavailable == !available }
}

func TestPresenceSubscription(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)

	// A subscription is answered at once with the current presence.
	if err := bridge.cli.SubscribePresence(ctx, emil.JID()); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, ctx, bridge.EventLog, "initial presence", presenceOf(emil.JID(), false))
	if !first.LastSeen.IsZero() {
		t.Fatalf("last seen %v before Emil was ever online", first.LastSeen)
	}
	// ... and again on every change.
	if err := emil.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "available", presenceOf(emil.JID(), true))
	if !emil.Account().Available() {
		t.Fatal("Emil's account is not available after announcing it")
	}
	if err := emil.SetAvailable(ctx, false); err != nil {
		t.Fatal(err)
	}
	gone := waitFor(t, ctx, bridge.EventLog, "unavailable", func(evt *events.Presence) bool {
		return presenceOf(emil.JID(), false)(evt) && !evt.LastSeen.IsZero()
	})
	if emil.Account().Available() {
		t.Fatal("Emil's account is still available")
	}

	// A subscription by LID is answered by LID; a phone that drops off while available goes
	// unavailable for its subscribers.
	if err := bridge.cli.SubscribePresence(ctx, emil.LID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "presence by LID", func(evt *events.Presence) bool {
		return presenceOf(emil.LID(), false)(evt) && evt.LastSeen.Equal(gone.LastSeen)
	})
	if err := emil.SetAvailable(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "available by LID", presenceOf(emil.LID(), true))
	if err := emil.SetOnline(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "unavailable after the phone dropped off", func(evt *events.Presence) bool {
		return presenceOf(emil.LID(), false)(evt) && evt.LastSeen.After(gone.LastSeen.Add(-1))
	})
}

func TestControlAPIPresence(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	api := newControlClient(t, srv)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)
	if err := bridge.cli.SubscribePresence(ctx, emil.JID()); err != nil {
		t.Fatal(err)
	}
	base := "/_wasim/accounts/" + emil.JID().User
	api.expect(http.StatusOK, "", "PUT", base+"/presence", `{"available":true}`, nil)
	waitFor(t, ctx, bridge.EventLog, "available", presenceOf(emil.JID(), true))
	var got struct {
		Available bool `json:"available"`
	}
	api.expect(http.StatusOK, "", "GET", base+"/presence", "", &got)
	if !got.Available {
		t.Fatal("GET presence says unavailable after PUT available")
	}
	api.expect(http.StatusOK, "", "PUT", base+"/presence", `{"available":false}`, nil)
	waitFor(t, ctx, bridge.EventLog, "unavailable", presenceOf(emil.JID(), false))
	api.expect(http.StatusBadRequest, "available", "PUT", base+"/presence", `{}`, nil)
	api.expect(http.StatusNotFound, "", "PUT", "/_wasim/accounts/1999999999/presence", `{"available":true}`, nil)
}

// chatPresenceFrom matches a chat state from the account (by phone number or LID) with the given
// state.
func chatPresenceFrom(acct *Account, state types.ChatPresence) func(*events.ChatPresence) bool {
	return func(evt *events.ChatPresence) bool {
		return (evt.Sender.User == acct.JID().User || evt.Sender.User == acct.LID().User) && evt.State == state
	}
}

// TestStrictPresenceTyping: typing passes only from a client that announced itself available and
// only to clients that did, in DMs and groups, as on WhatsApp.
func TestStrictPresenceTyping(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)
	send := func(from *whatsmeow.Client, to types.JID, state types.ChatPresence) {
		t.Helper()
		if err := from.SendChatPresence(ctx, to, state, ""); err != nil {
			t.Fatalf("SendChatPresence failed: %v", err)
		}
	}
	composingFromEmil := func(evt *events.ChatPresence) bool {
		return chatPresenceFrom(emil.Account(), types.ChatPresenceComposing)(evt)
	}

	// The sender is not available: nothing passes. A state sent after it announced itself does;
	// the server handles one connection's stanzas in order, so had the first passed, it would
	// have arrived first.
	bridge.announceAvailable(t, ctx, dora)
	send(emil.Client(), dora.JID(), types.ChatPresenceComposing)
	setAvailable(t, ctx, emil)
	send(emil.Client(), dora.JID(), types.ChatPresencePaused)
	waitFor(t, ctx, bridge.EventLog, "Emil's paused state", chatPresenceFrom(emil.Account(), types.ChatPresencePaused))
	if n := countOf(bridge.EventLog, composingFromEmil); n != 0 {
		t.Fatalf("the bridge got %d typing notifications Emil sent while not available", n)
	}

	// The recipient is not available: nothing reaches it until it announces itself again.
	if err := bridge.cli.SendPresence(ctx, types.PresenceUnavailable); err != nil {
		t.Fatal(err)
	}
	dev := bridge.cli.Store.ID.Device
	waitUntil(t, ctx, "the bridge to be unavailable", func() bool { return !dora.DeviceAvailable(dev) })
	send(emil.Client(), dora.JID(), types.ChatPresenceComposing)
	// A message after it on Emil's connection: once the bridge has it, the server has handled
	// the typing notification (one connection's stanzas are handled in order).
	if _, err := emil.SendText(ctx, dora.JID(), "barrier"); err != nil {
		t.Fatal(err)
	}
	if _, err := bridge.WaitMessage(ctx, textIs("barrier")); err != nil {
		t.Fatal(err)
	}
	bridge.announceAvailable(t, ctx, dora)
	send(emil.Client(), dora.LID(), types.ChatPresencePaused)
	waitFor(t, ctx, bridge.EventLog, "Emil's second paused state", func(evt *events.ChatPresence) bool {
		return chatPresenceFrom(emil.Account(), types.ChatPresencePaused)(evt) && evt.Chat.Server == types.HiddenUserServer
	})
	if n := countOf(bridge.EventLog, composingFromEmil); n != 0 {
		t.Fatalf("the bridge got %d typing notifications while it was not available", n)
	}

	// Both available: typing passes both ways, in a group too.
	send(bridge.cli, emil.JID(), types.ChatPresenceComposing)
	waitFor(t, ctx, emil.EventLog, "the bridge's typing", chatPresenceFrom(dora, types.ChatPresenceComposing))
	group, err := srv.CreateGroup(ctx, dora, "Pair", emil.Account())
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "Emil", emil.EventLog, group)
	send(emil.Client(), group, types.ChatPresenceComposing)
	waitFor(t, ctx, bridge.EventLog, "typing in the group", func(evt *events.ChatPresence) bool {
		return evt.Chat == group && evt.State == types.ChatPresenceComposing
	})
}

// TestStrictPresenceName: a client's messages carry its push name (notify) only after it announced
// one on its current connection; simulated phones announce theirs when they connect, and again
// after a name change.
func TestStrictPresenceName(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)

	if _, err := bridge.cli.SendMessage(ctx, emil.JID(), textMessage("before presence")); err != nil {
		t.Fatal(err)
	}
	msg, err := emil.WaitMessage(ctx, textIs("before presence"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "" {
		t.Fatalf("message sent before the client announced a name carries %q", msg.Info.PushName)
	}
	// whatsmeow announces Store.PushName: the account's name, which the phone synced to the
	// companion through app state when it linked.
	if err = bridge.cli.SendPresence(ctx, types.PresenceUnavailable); err != nil {
		t.Fatal(err)
	}
	if _, err = bridge.cli.SendMessage(ctx, emil.JID(), textMessage("after presence")); err != nil {
		t.Fatal(err)
	}
	if msg, err = emil.WaitMessage(ctx, textIs("after presence")); err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "Dora" {
		t.Fatalf("message sent after the announcement carries %q, want Dora", msg.Info.PushName)
	}

	// The phone announced its name when it connected; a new name is announced at once.
	if _, err = emil.SendText(ctx, dora.JID(), "from the phone"); err != nil {
		t.Fatal(err)
	}
	if msg, err = bridge.WaitMessage(ctx, textIs("from the phone")); err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "Emil" {
		t.Fatalf("phone's message carries %q, want Emil", msg.Info.PushName)
	}
	if err = emil.Account().SetPushName(ctx, "Emil Renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err = emil.SendText(ctx, dora.JID(), "renamed"); err != nil {
		t.Fatal(err)
	}
	if msg, err = bridge.WaitMessage(ctx, textIs("renamed")); err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "Emil Renamed" {
		t.Fatalf("phone's message after the rename carries %q", msg.Info.PushName)
	}

	// The name lasts for one connection: after a reconnect the client must announce it again.
	seen := bridge.Count(isType[*events.Connected])
	bridge.cli.Disconnect()
	if err = bridge.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	bridge.waitConnected(t, ctx, seen)
	if _, err = bridge.cli.SendMessage(ctx, emil.JID(), textMessage("after reconnect")); err != nil {
		t.Fatal(err)
	}
	if msg, err = emil.WaitMessage(ctx, textIs("after reconnect")); err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "" {
		t.Fatalf("message after a reconnect without announcement carries %q", msg.Info.PushName)
	}
}

// TestLenientPresence: with Options.LenientPresence, typing passes between any online clients and
// messages carry the account's push name without any announcement (the simulator's old rules).
func TestLenientPresence(t *testing.T) {
	t.Parallel()
	srv, err := New(context.Background(), Options{Log: testLogger(), LenientPresence: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)
	if err = emil.Client().SendChatPresence(ctx, dora.JID(), types.ChatPresenceComposing, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "typing", chatPresenceFrom(emil.Account(), types.ChatPresenceComposing))
	if _, err = bridge.cli.SendMessage(ctx, emil.JID(), textMessage("named")); err != nil {
		t.Fatal(err)
	}
	msg, err := emil.WaitMessage(ctx, textIs("named"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Info.PushName != "Dora" {
		t.Fatalf("lenient message carries %q, want the account's name Dora", msg.Info.PushName)
	}
}

// countOf counts the logged events of type T that match.
func countOf[T any](log *EventLog, match func(T) bool) int {
	return log.Count(func(evt any) bool {
		typed, ok := evt.(T)
		return ok && match(typed)
	})
}
