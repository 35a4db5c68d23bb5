package wasim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// lidMappingSynced matches the phone's LID_MIGRATION_MAPPING_SYNC peer message.
func lidMappingSynced(msg *events.Message) bool {
	return msg.Info.IsFromMe && msg.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_LID_MIGRATION_MAPPING_SYNC
}

func TestHiddenPhoneNumber(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	fay := newContact(t, ctx, srv, "Fay")
	bridge := pairByQR(t, ctx, srv, dora)
	emil.Account().SetPhoneNumberHidden(true)
	if !emil.Account().PhoneNumberHidden() {
		t.Fatal("PhoneNumberHidden is false after hiding the number")
	}

	// A direct message comes from the LID without sender_pn, whether Emil addressed Dora's LID or
	// her phone number; the companion cannot resolve the LID.
	if _, err := emil.SendText(ctx, dora.LID(), "to your LID"); err != nil {
		t.Fatal(err)
	}
	if _, err := emil.SendText(ctx, dora.JID(), "to your number"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"to your LID", "to your number"} {
		msg, err := bridge.WaitMessage(ctx, textIs(text))
		if err != nil {
			t.Fatalf("bridge did not get %q: %v", text, err)
		}
		if msg.Info.Sender.ToNonAD() != emil.LID() || !msg.Info.SenderAlt.IsEmpty() || msg.Info.Chat != emil.LID() || msg.Info.PushName != "Emil" {
			t.Fatalf("%q: sender %s, sender alt %s, chat %s, push name %q; want LID only", text,
				msg.Info.Sender, msg.Info.SenderAlt, msg.Info.Chat, msg.Info.PushName)
		}
	}
	if pn, err := bridge.cli.Store.LIDs.GetPNForLID(ctx, emil.LID()); err != nil || !pn.IsEmpty() {
		t.Fatalf("companion knows Emil's number %s (err %v) before it was revealed", pn, err)
	}

	// In a group, Emil's participant entry and messages carry no number; Fay's do.
	group, err := srv.CreateGroup(ctx, dora, "Hidden", emil.Account(), fay.Account())
	if err != nil {
		t.Fatal(err)
	}
	waitJoined(t, ctx, "bridge", bridge.EventLog, group)
	waitJoined(t, ctx, "Emil", emil.EventLog, group)
	info, err := bridge.cli.GetGroupInfo(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if info.AddressingMode != types.AddressingModeLID {
		t.Fatalf("group addressing mode %q", info.AddressingMode)
	}
	numbers := map[types.JID]types.JID{}
	for _, p := range info.Participants {
		numbers[p.LID] = p.PhoneNumber
	}
	if pn, ok := numbers[emil.LID()]; !ok || !pn.IsEmpty() {
		t.Fatalf("Emil in group info: present %v, number %s; want present without number", ok, pn)
	}
	if numbers[fay.LID()] != fay.JID() {
		t.Fatalf("Fay's number in group info is %s, want %s", numbers[fay.LID()], fay.JID())
	}
	if _, err = emil.SendText(ctx, group, "Emil in the group"); err != nil {
		t.Fatal(err)
	}
	msg := waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "Emil in the group", emil.Account(), false)
	if !msg.Info.SenderAlt.IsEmpty() || msg.Info.AddressingMode != types.AddressingModeLID {
		t.Fatalf("group message from Emil has sender alt %s, addressing mode %q", msg.Info.SenderAlt, msg.Info.AddressingMode)
	}
	if _, err = fay.SendText(ctx, group, "Fay in the group"); err != nil {
		t.Fatal(err)
	}
	msg = waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "Fay in the group", fay.Account(), false)
	if msg.Info.SenderAlt.ToNonAD() != fay.JID() {
		t.Fatalf("group message from Fay has sender alt %s, want %s", msg.Info.SenderAlt, fay.JID())
	}

	// Revealing the number to Dora: her phone syncs the mapping to the companion, and later
	// messages carry sender_pn.
	if err = emil.Account().RevealPhoneNumber(ctx, dora); err != nil {
		t.Fatalf("RevealPhoneNumber failed: %v", err)
	}
	if _, err = bridge.WaitMessage(ctx, lidMappingSynced); err != nil {
		t.Fatalf("companion got no LID mapping sync: %v", err)
	}
	if pn, err := bridge.cli.Store.LIDs.GetPNForLID(ctx, emil.LID()); err != nil || pn != emil.JID() {
		t.Fatalf("companion maps Emil's LID to %s (err %v), want %s", pn, err, emil.JID())
	}
	if _, err = emil.SendText(ctx, dora.LID(), "now you know"); err != nil {
		t.Fatal(err)
	}
	msg, err = bridge.WaitMessage(ctx, textIs("now you know"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Info.SenderAlt.ToNonAD() != emil.JID() {
		t.Fatalf("after the reveal, sender alt is %s, want %s", msg.Info.SenderAlt, emil.JID())
	}
	if err = fay.Account().RevealPhoneNumber(ctx, fay.Account()); err == nil {
		t.Fatal("revealing a number to its own account succeeded")
	}
}

func TestControlAPIHiddenNumber(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	api := newControlClient(t, srv)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	bridge := pairByQR(t, ctx, srv, dora)
	base := "/_wasim/accounts/" + emil.JID().User

	api.expect(http.StatusOK, "", "PUT", base+"/hidden-number", `{"hidden":true}`, nil)
	if !emil.Account().PhoneNumberHidden() {
		t.Fatal("number not hidden after PUT hidden-number")
	}
	if _, err := emil.SendText(ctx, dora.LID(), "hidden"); err != nil {
		t.Fatal(err)
	}
	if msg, err := bridge.WaitMessage(ctx, textIs("hidden")); err != nil || !msg.Info.SenderAlt.IsEmpty() {
		t.Fatalf("message with hidden number: %v, err %v", msg, err)
	}
	api.expect(http.StatusOK, "", "POST", base+"/reveal-number", `{"to":"+`+dora.JID().User+`"}`, nil)
	if _, err := bridge.WaitMessage(ctx, lidMappingSynced); err != nil {
		t.Fatalf("companion got no LID mapping sync: %v", err)
	}
	api.expect(http.StatusOK, "", "PUT", base+"/hidden-number", `{"hidden":false}`, nil)
	if emil.Account().PhoneNumberHidden() {
		t.Fatal("number still hidden after PUT hidden-number false")
	}
	api.expect(http.StatusBadRequest, "hidden", "PUT", base+"/hidden-number", `{}`, nil)
	api.expect(http.StatusBadRequest, "missing field", "POST", base+"/reveal-number", `{}`, nil)
	api.expect(http.StatusBadRequest, "own number", "POST", base+"/reveal-number", `{"to":"`+emil.JID().User+`"}`, nil)
	api.expect(http.StatusNotFound, "", "POST", base+"/reveal-number", `{"to":"1999999999"}`, nil)
	api.expect(http.StatusNotFound, "", "PUT", "/_wasim/accounts/1999999999/hidden-number", `{"hidden":true}`, nil)
}

// waitGroupMessage waits for a text in a group, whatever the sender's addressing.
func waitGroupMessage(t *testing.T, ctx context.Context, who string, log *EventLog, group types.JID, text string) *events.Message {
	t.Helper()
	msg, err := log.WaitMessage(ctx, textIs(text))
	if err != nil {
		t.Fatalf("%s did not get %q: %v", who, text, err)
	} else if msg.Info.Chat != group {
		t.Fatalf("%s got %q in chat %s, want %s", who, text, msg.Info.Chat, group)
	}
	return msg
}

func TestPNGroupMigratesToLID(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	emil := newContact(t, ctx, srv, "Emil")
	fay := newContact(t, ctx, srv, "Fay")
	bridge := pairByQR(t, ctx, srv, dora)

	group, err := srv.CreatePNGroup(ctx, fay.Account(), "Old group", dora, emil.Account())
	if err != nil {
		t.Fatal(err)
	}
	joined := waitJoined(t, ctx, "bridge", bridge.EventLog, group)
	waitJoined(t, ctx, "Emil", emil.EventLog, group)
	waitJoined(t, ctx, "Fay", fay.EventLog, group)
	if joined.AddressingMode != types.AddressingModePN {
		t.Fatalf("new PN group has addressing mode %q", joined.AddressingMode)
	}
	for _, p := range joined.Participants {
		if p.JID.Server != types.DefaultUserServer || p.LID.IsEmpty() || p.PhoneNumber != p.JID {
			t.Fatalf("participant of a PN group: %+v; want phone JID with LID", p)
		}
	}
	if _, err = emil.SendText(ctx, group, "by number"); err != nil {
		t.Fatal(err)
	}
	msg := waitGroupMessage(t, ctx, "bridge", bridge.EventLog, group, "by number")
	if msg.Info.Sender.ToNonAD() != emil.JID() || msg.Info.SenderAlt.ToNonAD() != emil.LID() || msg.Info.AddressingMode != types.AddressingModePN {
		t.Fatalf("PN group message: sender %s, alt %s, mode %q", msg.Info.Sender, msg.Info.SenderAlt, msg.Info.AddressingMode)
	}
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("bridge by number")); err != nil {
		t.Fatal(err)
	}
	waitGroupMessage(t, ctx, "Emil", emil.EventLog, group, "bridge by number")

	if err = srv.MigrateGroupToLID(group); err != nil {
		t.Fatal(err)
	}
	if _, err = emil.SendText(ctx, group, "by LID"); err != nil {
		t.Fatal(err)
	}
	msg = waitGroupText(t, ctx, "bridge", bridge.EventLog, group, "by LID", emil.Account(), false)
	if msg.Info.Sender.ToNonAD() != emil.LID() || msg.Info.SenderAlt.ToNonAD() != emil.JID() || msg.Info.AddressingMode != types.AddressingModeLID {
		t.Fatalf("migrated group message: sender %s, alt %s, mode %q", msg.Info.Sender, msg.Info.SenderAlt, msg.Info.AddressingMode)
	}
	info, err := bridge.cli.GetGroupInfo(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if info.AddressingMode != types.AddressingModeLID || len(info.Participants) != 3 {
		t.Fatalf("group info after migration: mode %q, %d participants", info.AddressingMode, len(info.Participants))
	}
	if _, err = bridge.cli.SendMessage(ctx, group, textMessage("bridge after migration")); err != nil {
		t.Fatal(err)
	}
	waitGroupMessage(t, ctx, "Emil", emil.EventLog, group, "bridge after migration")
	waitGroupMessage(t, ctx, "Fay", fay.EventLog, group, "bridge after migration")
	if err = srv.MigrateGroupToLID(types.NewJID("1", types.GroupServer)); !errors.Is(err, ErrNoSuchGroup) {
		t.Fatalf("migrating an unknown group: %v", err)
	}
	assertNoRetries(t, map[string]*EventLog{"bridge": bridge.EventLog, "Emil": emil.EventLog, "Fay": fay.EventLog})
}
