package wasim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// waitFor waits for the first event of type T that matches.
func waitFor[T any](t *testing.T, ctx context.Context, log *EventLog, what string, match func(T) bool) T {
	t.Helper()
	evt, err := log.WaitEvent(ctx, func(evt any) bool {
		typed, ok := evt.(T)
		return ok && match(typed)
	})
	if err != nil {
		t.Fatalf("no %s: %v", what, err)
	}
	return evt.(T)
}

// syncComplete matches the end of a full sync of one collection.
func syncComplete(name appstate.WAPatchName) func(*events.AppStateSyncComplete) bool {
	return func(evt *events.AppStateSyncComplete) bool { return evt.Name == name }
}

// pairWithAppStateEvents pairs a companion that also gets events for what a full sync brings.
func pairWithAppStateEvents(t *testing.T, ctx context.Context, srv *Server, acct *Account) *companion {
	t.Helper()
	c := newCompanion(t, srv, "")
	c.cli.EmitAppStateEventsOnFullSync = true
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("failed to connect companion: %v", err)
	}
	evt, err := c.WaitEvent(ctx, isType[*events.QR])
	if err != nil {
		t.Fatalf("no QR code: %v", err)
	}
	if err = acct.ScanQR(ctx, evt.(*events.QR).Codes[0]); err != nil {
		t.Fatalf("phone failed to scan QR: %v", err)
	}
	c.waitConnected(t, ctx, 0)
	return c
}

func TestPhoneSharesAppStateKeyAfterLink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Key Owner")
	c := pairByQR(t, ctx, srv, acct)

	share := waitFor(t, ctx, c.EventLog, "key share", func(msg *events.Message) bool {
		return msg.Message.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE
	})
	if !share.Info.IsFromMe || share.Info.Category != "peer" || share.Info.Sender.Device != 0 || share.Info.Sender.User != acct.LID().User {
		t.Fatalf("key share came as from_me=%v category=%q sender=%s, want a peer message from the phone %s:0",
			share.Info.IsFromMe, share.Info.Category, share.Info.Sender, acct.LID())
	}
	keyID := share.Message.GetProtocolMessage().GetAppStateSyncKeyShare().GetKeys()[0].GetKeyID().GetKeyID()
	// whatsmeow stores the shared key while (not before) it dispatches the message event.
	for {
		key, err := c.cli.Store.AppStateKeys.GetAppStateSyncKey(ctx, keyID)
		if err == nil && key != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("companion did not store the shared key: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// With the key, the companion syncs every collection; the phone's initial state holds its push name.
	waitFor(t, ctx, c.EventLog, "critical_block sync", syncComplete(appstate.WAPatchCriticalBlock))
	if got := c.cli.Store.PushName; got != "Key Owner" {
		t.Fatalf("companion push name after sync = %q, want the account's", got)
	}
	// The channel is reusable: a second peer message reaches the companion on the same session.
	if _, err := acct.SendPeer(ctx, c.cli.Store.ID.Device, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE.Enum(),
		AppStateSyncKeyShare: &waE2E.AppStateSyncKeyShare{Keys: []*waE2E.AppStateSyncKey{{
			KeyID: &waE2E.AppStateSyncKeyId{KeyID: []byte{0, 0, 0, 0, 9, 9}},
			KeyData: &waE2E.AppStateSyncKeyData{
				KeyData: make([]byte, 32), Timestamp: proto.Int64(1),
				Fingerprint: &waE2E.AppStateSyncKeyFingerprint{RawID: proto.Uint32(1), CurrentIndex: proto.Uint32(0)},
			},
		}}},
	}}); err != nil {
		t.Fatalf("second peer message: %v", err)
	}
	waitFor(t, ctx, c.EventLog, "second peer message", func(msg *events.Message) bool {
		keys := msg.Message.GetProtocolMessage().GetAppStateSyncKeyShare().GetKeys()
		return len(keys) == 1 && keys[0].GetKeyID().GetKeyID()[4] == 9
	})
}

func TestAppStateFullSyncAndChanges(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Owner")
	alice := newAccount(t, ctx, srv, "Alice Push")
	// What the phone has before the companion links arrives with the first full sync (as a snapshot).
	if err := acct.SaveContact(ctx, alice.JID(), "Alice Address", "Alice"); err != nil {
		t.Fatalf("SaveContact: %v", err)
	}
	yes := true
	if err := acct.SetChatSettings(ctx, alice.JID(), ChatSettings{Muted: &yes, Pinned: &yes, Archived: &yes, Unread: &yes}); err != nil {
		t.Fatalf("SetChatSettings: %v", err)
	}
	c := pairWithAppStateEvents(t, ctx, srv, acct)

	contact := waitFor(t, ctx, c.EventLog, "contact from full sync", func(evt *events.Contact) bool { return evt.FromFullSync })
	if contact.JID != alice.JID() || contact.Action.GetFullName() != "Alice Address" || contact.Action.GetFirstName() != "Alice" {
		t.Fatalf("full sync contact = %s %q/%q", contact.JID, contact.Action.GetFullName(), contact.Action.GetFirstName())
	}
	waitFor(t, ctx, c.EventLog, "push name from full sync", func(evt *events.PushNameSetting) bool {
		return evt.FromFullSync && evt.Action.GetName() == "Owner"
	})
	waitFor(t, ctx, c.EventLog, "mute from full sync", func(evt *events.Mute) bool {
		return evt.FromFullSync && evt.JID == alice.JID() && evt.Action.GetMuted() && evt.Action.GetMuteEndTimestamp() == -1
	})
	waitFor(t, ctx, c.EventLog, "pin from full sync", func(evt *events.Pin) bool { return evt.FromFullSync && evt.Action.GetPinned() })
	waitFor(t, ctx, c.EventLog, "archive from full sync", func(evt *events.Archive) bool { return evt.FromFullSync && evt.Action.GetArchived() })
	waitFor(t, ctx, c.EventLog, "unread from full sync", func(evt *events.MarkChatAsRead) bool {
		return evt.FromFullSync && !evt.Action.GetRead()
	})
	for _, name := range appstate.AllPatchNames {
		waitFor(t, ctx, c.EventLog, "sync of "+string(name), syncComplete(name))
	}
	if srv.appStateSnapshotCount() == 0 {
		t.Fatal("the full sync was not served as snapshots")
	}

	// Later changes reach the linked companion through server_sync notifications.
	if err := acct.SaveContact(ctx, alice.JID(), "Alice Renamed", "Ali"); err != nil {
		t.Fatalf("SaveContact again: %v", err)
	}
	waitFor(t, ctx, c.EventLog, "renamed contact", func(evt *events.Contact) bool {
		return !evt.FromFullSync && evt.JID == alice.JID() && evt.Action.GetFullName() == "Alice Renamed"
	})
	if err := acct.SetPushName(ctx, "Owner New"); err != nil {
		t.Fatalf("SetPushName: %v", err)
	}
	waitFor(t, ctx, c.EventLog, "new push name", func(evt *events.PushNameSetting) bool {
		return !evt.FromFullSync && evt.Action.GetName() == "Owner New"
	})
	no := false
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := acct.SetChatSettings(ctx, alice.JID(), ChatSettings{Muted: &yes, MuteUntil: until, Archived: &yes, Unread: &no}); err != nil {
		t.Fatalf("SetChatSettings again: %v", err)
	}
	waitFor(t, ctx, c.EventLog, "timed mute", func(evt *events.Mute) bool {
		return !evt.FromFullSync && evt.Action.GetMuteEndTimestamp() == until.UnixMilli()
	})
	waitFor(t, ctx, c.EventLog, "archive", func(evt *events.Archive) bool { return !evt.FromFullSync && evt.Action.GetArchived() })
	waitFor(t, ctx, c.EventLog, "read", func(evt *events.MarkChatAsRead) bool { return !evt.FromFullSync && evt.Action.GetRead() })
	if v := acct.AppStateVersion(string(appstate.WAPatchCriticalUnblockLow)); v != 2 {
		t.Fatalf("critical_unblock_low is at version %d after two contact writes, want 2", v)
	}
}

// A companion's own write is stored, the phone hears of it, and the phone's next write (made
// against an older version) goes through whatsmeow's conflict handling.
func TestAppStateWriteFromCompanionNotifiesPhone(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	acct := newAccount(t, ctx, srv, "Owner")
	bob := newAccount(t, ctx, srv, "Bob")
	c := pairByQR(t, ctx, srv, acct)
	waitFor(t, ctx, c.EventLog, "regular_low sync", syncComplete(appstate.WAPatchRegularLow))

	if err := c.cli.SendAppState(ctx, appstate.BuildPin(bob.JID(), true)); err != nil {
		t.Fatalf("companion SendAppState: %v", err)
	}
	// The phone had never synced regular_low, so it fetches a snapshot (no per-mutation events).
	phone := acct.Phone()
	waitFor(t, ctx, phone.EventLog, "regular_low sync on the phone", syncComplete(appstate.WAPatchRegularLow))
	if settings, err := phone.Client().Store.ChatSettings.GetChatSettings(ctx, bob.JID()); err != nil || !settings.Pinned {
		t.Fatalf("phone's chat settings after the companion pinned: %+v, %v", settings, err)
	}
	if err := acct.SetChatSettings(ctx, bob.JID(), ChatSettings{Archived: boolPtr(true)}); err != nil {
		t.Fatalf("phone write after the companion's: %v", err)
	}
	waitFor(t, ctx, c.EventLog, "archive on the companion", func(evt *events.Archive) bool {
		return evt.JID == bob.JID() && evt.Action.GetArchived()
	})

	// A write against an old version: the phone has not heard of the companion's newer patch yet
	// (notifications are held back), so the server answers 409 with the missing patch; whatsmeow
	// applies it and writes again on top.
	srv.SetDeliveryDelay(3 * time.Second)
	if err := c.cli.SendAppState(ctx, appstate.BuildPin(bob.JID(), false)); err != nil {
		t.Fatalf("companion unpin: %v", err)
	}
	if err := acct.SetChatSettings(ctx, bob.JID(), ChatSettings{Archived: boolPtr(false)}); err != nil {
		t.Fatalf("phone write against an old version: %v", err)
	}
	srv.SetDeliveryDelay(0)
	waitFor(t, ctx, c.EventLog, "unarchive on the companion", func(evt *events.Archive) bool {
		return evt.JID == bob.JID() && !evt.Action.GetArchived()
	})
	if v := acct.AppStateVersion(string(appstate.WAPatchRegularLow)); v != 4 {
		t.Fatalf("regular_low is at version %d, want 4 (pin, archive, unpin, unarchive)", v)
	}
}

func boolPtr(b bool) *bool { return &b }

func TestControlAPIAppState(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := newTestServer(t)
	api := newControlClient(t, srv)
	acct := newAccount(t, ctx, srv, "Owner")
	carol := newAccount(t, ctx, srv, "Carol")
	c := pairWithAppStateEvents(t, ctx, srv, acct)
	waitFor(t, ctx, c.EventLog, "critical_unblock_low sync", syncComplete(appstate.WAPatchCriticalUnblockLow))
	base := "/_wasim/accounts/" + acct.JID().User

	api.expect(http.StatusOK, "", "POST", base+"/contacts", mustJSON(map[string]string{
		"contact": "+" + carol.JID().User, "full_name": "Carol Saved", "first_name": "Carol",
	}), nil)
	waitFor(t, ctx, c.EventLog, "contact", func(evt *events.Contact) bool {
		return evt.JID == carol.JID() && evt.Action.GetFullName() == "Carol Saved"
	})
	api.expect(http.StatusOK, "", "PUT", base+"/push-name", `{"name":"Owner HTTP"}`, nil)
	waitFor(t, ctx, c.EventLog, "push name", func(evt *events.PushNameSetting) bool { return evt.Action.GetName() == "Owner HTTP" })
	if acct.PushName() != "Owner HTTP" {
		t.Fatalf("account push name = %q", acct.PushName())
	}
	api.expect(http.StatusOK, "", "POST", base+"/chat-settings",
		mustJSON(map[string]any{"chat": carol.JID().String(), "muted": true, "pinned": true, "archived": false}), nil)
	waitFor(t, ctx, c.EventLog, "mute", func(evt *events.Mute) bool { return evt.JID == carol.JID() && evt.Action.GetMuted() })
	waitFor(t, ctx, c.EventLog, "pin", func(evt *events.Pin) bool { return evt.JID == carol.JID() && evt.Action.GetPinned() })
	waitFor(t, ctx, c.EventLog, "unarchive", func(evt *events.Archive) bool { return evt.JID == carol.JID() && !evt.Action.GetArchived() })

	var versions map[string]uint64
	api.expect(http.StatusOK, "", "GET", base+"/app-state", "", &versions)
	if versions["critical_unblock_low"] != 1 || versions["critical_block"] != 2 || versions["regular_high"] != 1 || versions["regular_low"] != 2 {
		t.Fatalf("app state versions = %v", versions)
	}
	api.expect(http.StatusBadRequest, "no setting", "POST", base+"/chat-settings", `{"chat":"`+carol.JID().User+`"}`, nil)
	api.expect(http.StatusBadRequest, "missing field", "POST", base+"/contacts", `{"full_name":"X"}`, nil)
	api.expect(http.StatusNotFound, "", "PUT", "/_wasim/accounts/1999999999/push-name", `{"name":"X"}`, nil)
}
