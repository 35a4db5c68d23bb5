package wasim

import (
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestBusinessName: a business account's messages carry its verified name; a companion's
// whatsmeow stores it and reports each change as events.BusinessName, from messages (DM and group)
// and from user queries; the control API sets and reads it.
func TestBusinessName(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	dora := newAccount(t, ctx, srv, "Dora")
	shop := newContact(t, ctx, srv, "shop owner")
	bridge := pairByQR(t, ctx, srv, dora)
	businessNamed := func(name string) func(*events.BusinessName) bool {
		return func(evt *events.BusinessName) bool {
			return (evt.JID.User == shop.JID().User || evt.JID.User == shop.LID().User) && evt.NewBusinessName == name
		}
	}

	// An ordinary account's messages carry no verified name.
	if _, err := shop.SendText(ctx, dora.JID(), "plain"); err != nil {
		t.Fatal(err)
	}
	msg, err := bridge.WaitMessage(ctx, textIs("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Info.VerifiedName != nil {
		t.Fatalf("ordinary account's message carries verified name %v", msg.Info.VerifiedName.Details)
	}

	base := "/_wasim/accounts/" + shop.JID().User + "/business_name"
	api.expect(http.StatusOK, "", "PUT", base, `{"name":"Corner Shop"}`, nil)
	var got struct {
		Name string `json:"name"`
	}
	api.expect(http.StatusOK, "", "GET", base, "", &got)
	if got.Name != "Corner Shop" {
		t.Fatalf("GET business_name = %q", got.Name)
	}
	api.expect(http.StatusBadRequest, "name", "PUT", base, `{}`, nil)
	api.expect(http.StatusNotFound, "", "PUT", "/_wasim/accounts/1999999999/business_name", `{"name":"x"}`, nil)

	if _, err = shop.SendText(ctx, dora.JID(), "now a business"); err != nil {
		t.Fatal(err)
	}
	if msg, err = bridge.WaitMessage(ctx, textIs("now a business")); err != nil {
		t.Fatal(err)
	}
	if msg.Info.VerifiedName == nil || msg.Info.VerifiedName.Details.GetVerifiedName() != "Corner Shop" || msg.Info.VerifiedName.Details.GetSerial() != 1 {
		t.Fatalf("business message's verified name: %+v", msg.Info.VerifiedName)
	}
	waitFor(t, ctx, bridge.EventLog, "the business name", businessNamed("Corner Shop"))

	// A new name reaches the companion with the next message, in a group too.
	if err = shop.Account().SetBusinessName(ctx, "Corner Shop & Café"); err != nil {
		t.Fatal(err)
	}
	group, err := srv.CreateGroup(ctx, dora, "Customers", shop.Account())
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "shop", shop.EventLog, group)
	if _, err = shop.SendText(ctx, group, "renamed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "the new business name", func(evt *events.BusinessName) bool {
		return businessNamed("Corner Shop & Café")(evt) && evt.OldBusinessName == "Corner Shop"
	})

	// A user query answers with the current name too.
	if err = shop.Account().SetBusinessName(ctx, "Shop Three"); err != nil {
		t.Fatal(err)
	}
	if _, err = bridge.cli.GetUserInfo(ctx, []types.JID{shop.JID()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, bridge.EventLog, "the name from a user query", businessNamed("Shop Three"))
	if err = shop.Account().SetBusinessName(ctx, ""); err == nil {
		t.Fatal("an empty business name was accepted")
	}

	// An empty name over the control API makes it an ordinary account again.
	api.expect(http.StatusOK, "", "PUT", base, `{"name":""}`, nil)
	api.expect(http.StatusOK, "", "GET", base, "", &got)
	if got.Name != "" {
		t.Fatalf("GET business_name after removing it = %q", got.Name)
	}
	if _, err = shop.SendText(ctx, dora.JID(), "ordinary again"); err != nil {
		t.Fatal(err)
	}
	if msg, err = bridge.WaitMessage(ctx, textIs("ordinary again")); err != nil {
		t.Fatal(err)
	} else if msg.Info.VerifiedName != nil {
		t.Fatalf("message after removing the business name carries %v", msg.Info.VerifiedName.Details)
	}
}
