package tests

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestViewOnce: view-once media that reaches the bridge is shown once with a notice, and a reply
// to it from Matrix quotes it on WhatsApp without the file, so it is never shown again.
func TestViewOnce(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112340071")
	erin, erinGhost := newContact(t, ctx, env, "4917600000071", "Erin")

	photo := randomBytes(t, "\xff\xd8\xff\xe0 once", 10_000)
	if _, err := erin.SendMedia(ctx, alice.acct.JID(), wasim.Media{Kind: wasim.KindImage, Data: photo, ViewOnce: true}); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, erinGhost)
	img := env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Sender == erinGhost && evt.Content.AsMessage().MsgType == event.MsgImage
	})
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		c := evt.Content.AsMessage()
		return evt.Sender == erinGhost && c.MsgType == event.MsgNotice && c.Body == "This was sent as view-once: WhatsApp shows it only once. The bridge keeps no copy of it."
	})

	reply := &event.MessageEventContent{MsgType: event.MsgText, Body: "nice"}
	reply.RelatesTo = (&event.RelatesTo{}).SetReplyTo(img.ID)
	if _, err := alice.client.SendMessageEvent(ctx, dm, event.EventMessage, reply); err != nil {
		t.Fatal(err)
	}
	got := waitWAText(t, ctx, erin, "nice")
	quoted := got.Message.GetExtendedTextMessage().GetContextInfo().GetQuotedMessage().GetImageMessage()
	if quoted == nil || !quoted.GetViewOnce() || quoted.GetURL() != "" || quoted.GetDirectPath() != "" || len(quoted.GetMediaKey()) != 0 {
		t.Errorf("the reply quotes %v", got.Message.GetExtendedTextMessage().GetContextInfo().GetQuotedMessage())
	}
}
