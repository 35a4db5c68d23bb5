package wasim

import (
	"net/http"
	"testing"

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
