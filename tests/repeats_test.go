package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestRepeatedMessageIDShownOnce: with the simulator delivering a repeated message ID again, as
// the real server is reported to do (wasim.Server.SetDeliverRepeats), a contact's message that
// reaches the bridge twice under one ID, in a direct chat and in a group, each copy encrypted on
// its own, appears in Matrix once.
func TestRepeatedMessageIDShownOnce(t *testing.T) {
	t.Parallel()
	e2e.SkipInShortMode(t)
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, dialect, nil)
			env.WA.SetDeliverRepeats(true)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", "4915112340071")
			carol, carolGhost := newContact(t, ctx, env, "4917600000071", "Carol")
			group, err := env.WA.CreateGroup(ctx, carol.Account(), "Repeats", alice.acct)
			if err != nil {
				t.Fatal(err)
			}
			groupRoom := joinPortal(t, ctx, env, alice.client, env.BotMXID(), alice.room)

			// Copies of each message ID written to the bridge's device.
			var lock sync.Mutex
			toBridge := make(map[string]int)
			env.WA.TapMessages(func(tap wasim.MessageTap) {
				if tap.Out && tap.Device.User == alice.acct.JID().User && tap.Device.Device != 0 {
					lock.Lock()
					toBridge[tap.ID]++
					lock.Unlock()
				}
			})
			defer env.WA.TapMessages(nil)

			for _, chat := range []struct {
				name string
				to   types.JID
			}{{"direct chat", alice.acct.JID()}, {"group", group}} {
				text := "said twice in the " + chat.name
				msgID := carol.Client().GenerateMessageID()
				msg := &waE2E.Message{Conversation: proto.String(text)}
				for range 2 {
					if err := carol.SendWithID(ctx, chat.to, msg, msgID); err != nil {
						t.Fatalf("send to the %s failed: %v", chat.name, err)
					}
				}
				room := groupRoom
				if chat.to == alice.acct.JID() {
					room = joinPortal(t, ctx, env, alice.client, carolGhost)
				}
				// A message after the repeat: once it is in the room, the repeat was handled.
				after := "after the repeat in the " + chat.name
				if _, err := carol.SendText(ctx, chat.to, after); err != nil {
					t.Fatal(err)
				}
				env.WaitForMessage(ctx, alice.client, room, fromGhost(carolGhost, after))
				lock.Lock()
				n := toBridge[msgID]
				lock.Unlock()
				if n != 2 {
					t.Fatalf("the simulator wrote %d copies of %s to the bridge, want 2", n, msgID)
				}
				timeline, err := e2e.Timeline(ctx, alice.client, room, 100)
				if err != nil {
					t.Fatal(err)
				}
				shown := 0
				for _, evt := range timeline {
					if evt.Type == event.EventMessage && evt.Sender == carolGhost && evt.Content.AsMessage().Body == text {
						shown++
					}
				}
				if shown != 1 {
					t.Errorf("the %s shows %q %d times, want once", chat.name, text, shown)
				}
			}
		})
	}
}
