package wasim

import (
	"bytes"
	"net/http"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// waitStatus waits for a status update with text on log and checks the chat and poster.
func waitStatus(t *testing.T, who string, log *EventLog, match func(*events.Message) bool, poster *Account) *events.Message {
	t.Helper()
	msg, err := log.WaitMessage(testContext(t), match)
	if err != nil {
		t.Fatalf("%s did not get the status: %v", who, err)
	}
	if msg.Info.Chat != types.StatusBroadcastJID || !msg.Info.IsGroup || msg.Info.IsFromMe {
		t.Fatalf("%s got the status in chat %s (group %v, from me %v)", who, msg.Info.Chat, msg.Info.IsGroup, msg.Info.IsFromMe)
	}
	if msg.Info.Sender.User != poster.LID().User || msg.Info.SenderAlt != poster.JID() {
		t.Fatalf("%s got the status from %s (alt %s), want %s", who, msg.Info.Sender, msg.Info.SenderAlt, poster.LID())
	}
	return msg
}

// TestStatusBroadcast: a contact's status reaches the viewers' phones and linked companions as a
// message in status@broadcast, sender-key encrypted, and not accounts outside the viewer list.
func TestStatusBroadcast(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	bridge := pairByQR(t, ctx, srv, dora)
	emil := newContact(t, ctx, srv, "Emil")
	fay := newContact(t, ctx, srv, "Fay")
	gus := newContact(t, ctx, srv, "Gus")

	if _, err := emil.PostStatus(ctx, textMessage("at the beach"), dora, fay.Account()); err != nil {
		t.Fatalf("PostStatus failed: %v", err)
	}
	waitStatus(t, "bridge", bridge.EventLog, textIs("at the beach"), emil.Account())
	waitStatus(t, "Dora's phone", dora.Phone().EventLog, textIs("at the beach"), emil.Account())
	waitStatus(t, "Fay", fay.EventLog, textIs("at the beach"), emil.Account())

	photo := bytes.Repeat([]byte("\xff\xd8\xff\xe0 status"), 500)
	if _, err := emil.PostStatusMedia(ctx, Media{Kind: KindImage, Data: photo, Caption: "sunset"}, dora, fay.Account()); err != nil {
		t.Fatalf("PostStatusMedia failed: %v", err)
	}
	img := waitStatus(t, "bridge", bridge.EventLog, func(m *events.Message) bool { return m.Message.GetImageMessage() != nil }, emil.Account())
	if got, err := bridge.cli.Download(ctx, img.Message.GetImageMessage()); err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("status photo download: %d bytes, err %v", len(got), err)
	}
	if n := countText(gus.EventLog, "at the beach"); n != 0 {
		t.Fatalf("Gus, not a viewer, got the status %d times", n)
	}
	if _, err := emil.PostStatus(ctx, textMessage("nobody")); err == nil {
		t.Fatal("PostStatus without viewers succeeded")
	}
}

// TestControlAPIStatus posts a status through the HTTP control API and checks its errors.
func TestControlAPIStatus(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	api := newControlClient(t, srv)
	dora := newAccount(t, ctx, srv, "Dora")
	bridge := pairByQR(t, ctx, srv, dora)
	emil := newContact(t, ctx, srv, "Emil")
	from, viewer := emil.JID().User, dora.JID().User

	api.expect(http.StatusBadRequest, `missing field "viewers"`, "POST", "/_wasim/status", mustJSON(map[string]any{"from": from, "text": "x"}), nil)
	api.expect(http.StatusBadRequest, `missing field "text"`, "POST", "/_wasim/status", mustJSON(map[string]any{"from": from, "viewers": []string{viewer}}), nil)
	api.expect(http.StatusNotFound, "no such account", "POST", "/_wasim/status", mustJSON(map[string]any{"from": from, "viewers": []string{"4930999999"}, "text": "x"}), nil)
	var sent map[string]string
	api.expect(http.StatusCreated, "", "POST", "/_wasim/status", mustJSON(map[string]any{"from": from, "viewers": []string{viewer}, "text": "via the API"}), &sent)
	msg := waitStatus(t, "bridge", bridge.EventLog, textIs("via the API"), emil.Account())
	if msg.Info.ID != sent["id"] {
		t.Fatalf("status id %s, API said %s", msg.Info.ID, sent["id"])
	}
}

// TestStatusReadReceipt: a viewer marking a status read tells the poster who saw it.
func TestStatusReadReceipt(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	ctx := testContext(t)
	dora := newAccount(t, ctx, srv, "Dora")
	bridge := pairByQR(t, ctx, srv, dora)
	emil := newContact(t, ctx, srv, "Emil")
	id, err := emil.PostStatus(ctx, textMessage("seen?"), dora)
	if err != nil {
		t.Fatal(err)
	}
	msg := waitStatus(t, "bridge", bridge.EventLog, textIs("seen?"), emil.Account())
	if err = bridge.cli.MarkRead(ctx, []types.MessageID{id}, msg.Info.Timestamp, types.StatusBroadcastJID, msg.Info.Sender); err != nil {
		t.Fatal(err)
	}
	if _, err = emil.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && r.Chat == types.StatusBroadcastJID && r.Sender.User == dora.LID().User &&
			len(r.MessageIDs) == 1 && r.MessageIDs[0] == id
	}); err != nil {
		t.Fatalf("Emil did not learn that Dora saw the status: %v", err)
	}
}
