package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// loggedInUser is a Matrix user logged in to WhatsApp through the bridge.
type loggedInUser struct {
	client *mautrix.Client
	room   id.RoomID // management room
	acct   *wasim.Account
}

func newLoggedInUser(t testing.TB, ctx context.Context, env *waEnv, localpart, phone string) *loggedInUser {
	t.Helper()
	acct, err := env.WA.CreateAccount(ctx, phone, strings.ToUpper(localpart[:1])+localpart[1:])
	if err != nil {
		t.Fatal(err)
	}
	return logInAccount(t, ctx, env, localpart, acct)
}

// logInAccount logs a new Matrix user in to an existing simulated WhatsApp account.
func logInAccount(t testing.TB, ctx context.Context, env *waEnv, localpart string, acct *wasim.Account) *loggedInUser {
	t.Helper()
	client := env.NewUser(t, localpart)
	room := openManagementRoom(t, ctx, env.Env, client)
	loginQR(t, ctx, env, client, room, acct)
	device := companionDevice(t, acct)
	waitFor(t, ctx, localpart+"'s companion to be online", func() bool { return acct.Online(device) })
	return &loggedInUser{client: client, room: room, acct: acct}
}

func ghostOf(env *waEnv, phone string) id.UserID {
	return id.NewUserID("whatsapp_"+phone, e2e.Domain)
}

// fromGhost matches a message from ghost whose body is body.
func fromGhost(ghost id.UserID, body string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Sender == ghost && evt.Type == event.EventMessage && evt.Content.AsMessage().Body == body
	}
}

func joinPortal(t testing.TB, ctx context.Context, env *waEnv, client *mautrix.Client, inviter id.UserID, skip ...id.RoomID) id.RoomID {
	t.Helper()
	room := env.WaitForInvite(ctx, client, inviter, skip...)
	if _, err := client.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("failed to join portal %s: %v", room, err)
	}
	return room
}

func waitWAText(t testing.TB, ctx context.Context, c *wasim.Contact, text string) *events.Message {
	t.Helper()
	msg, err := c.WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageText(m) == text })
	if err != nil {
		t.Fatalf("%s never received %q: %v", c.JID(), text, err)
	}
	return msg
}

// masterRuleEnabled reads user's master push rule through the appservice token.
func masterRuleEnabled(t *testing.T, ctx context.Context, env *waEnv, user id.UserID) bool {
	t.Helper()
	cli, err := mautrix.NewClient(env.HomeserverURL(), user, env.ASToken())
	if err != nil {
		t.Fatal(err)
	}
	cli.SetAppServiceUserID = true
	rule, err := cli.GetPushRule(ctx, "global", pushrules.OverrideRule, ".m.rule.master")
	if err != nil {
		t.Fatalf("failed to read the master push rule of %s: %v", user, err)
	}
	return rule.Enabled
}

// TestDirectChatBothWays covers a 1:1 chat: the portal appears on the first message as a DM with the
// contact's ghost, and text, formatting, replies, edits, reactions and deletions flow both ways,
// each exactly once, with WhatsApp's timestamps.
func TestDirectChatBothWays(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := newWAEnv(t, dialect, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
			carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")

			// WhatsApp -> Matrix: the first message creates a DM portal with the ghost.
			firstID, err := carol.SendText(ctx, alice.acct.JID(), "Hello *Alice*, _how_ are you?")
			if err != nil {
				t.Fatal(err)
			}
			dm := joinPortal(t, ctx, env, alice.client, carolGhost)
			first := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Hello *Alice*, _how_ are you?"))
			if html := first.Content.AsMessage().FormattedBody; html != "Hello <strong>Alice</strong>, <em>how</em> are you?" {
				t.Errorf("formatted body = %q", html)
			}
			env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
				// The ghost's invite marks the room as a direct chat, as Matrix clients expect.
				return evt.Type == event.StateMember && evt.GetStateKey() == alice.client.UserID.String() &&
					evt.Sender == carolGhost && evt.Content.AsMember().Membership == event.MembershipInvite && evt.Content.AsMember().IsDirect
			})
			// The ghost and the bot never read notifications: the homeserver counts none for them.
			for _, user := range []id.UserID{carolGhost, env.BotMXID()} {
				if !masterRuleEnabled(t, ctx, env, user) {
					t.Errorf("%s has its notifications on (master push rule disabled)", user)
				}
			}
			var profile mautrix.RespUserProfile
			if err = alice.client.StateEvent(ctx, dm, event.StateMember, carolGhost.String(), &profile); err == nil && !strings.HasPrefix(profile.DisplayName, "Carol") {
				t.Errorf("ghost display name = %q, want Carol's push name", profile.DisplayName)
			}

			// Matrix -> WhatsApp: formatting is converted to WhatsApp markup.
			reply, err := alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
				MsgType: event.MsgText, Body: "Fine, **thanks**", Format: event.FormatHTML,
				FormattedBody: "Fine, <strong>thanks</strong>", RelatesTo: (&event.RelatesTo{}).SetReplyTo(first.ID),
			})
			if err != nil {
				t.Fatal(err)
			}
			got := waitWAText(t, ctx, carol, "Fine, *thanks*")
			if quoted := got.Message.GetExtendedTextMessage().GetContextInfo().GetStanzaID(); quoted != firstID {
				t.Errorf("reply quotes %q, want %q", quoted, firstID)
			}

			// WhatsApp -> Matrix reply, reaction, edit and revoke.
			carolReplyID, err := carol.Send(ctx, alice.acct.JID(), &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text: proto.String("Great"),
				ContextInfo: &waE2E.ContextInfo{
					StanzaID: proto.String(got.Info.ID), Participant: proto.String(alice.acct.JID().String()),
					QuotedMessage: &waE2E.Message{Conversation: proto.String("Fine, *thanks*")},
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			great := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Great"))
			if great.Content.AsMessage().RelatesTo.GetReplyTo() != reply.EventID {
				t.Errorf("WhatsApp reply is not a Matrix reply to %s: %+v", reply.EventID, great.Content.AsMessage().RelatesTo)
			}
			if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildReaction(alice.acct.JID(), alice.acct.JID(), got.Info.ID, "👍")); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
				rel := evt.Content.AsReaction().RelatesTo
				return evt.Type == event.EventReaction && evt.Sender == carolGhost && rel.EventID == reply.EventID && rel.Key == "👍\ufe0f"
			})
			// Changing the reaction replaces it; removing it removes it.
			reactionIs := func(key string) func(*event.Event) bool {
				return func(evt *event.Event) bool {
					rel := evt.Content.AsReaction().RelatesTo
					return evt.Type == event.EventReaction && evt.Sender == carolGhost && rel.EventID == reply.EventID && rel.Key == key
				}
			}
			thumbs := env.WaitForMessage(ctx, alice.client, dm, reactionIs("👍\ufe0f"))
			if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildReaction(alice.acct.JID(), alice.acct.JID(), got.Info.ID, "😂")); err != nil {
				t.Fatal(err)
			}
			laugh := env.WaitForMessage(ctx, alice.client, dm, reactionIs("😂"))
			env.WaitForMessage(ctx, alice.client, dm, isRedacted(thumbs.ID))
			if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildReaction(alice.acct.JID(), alice.acct.JID(), got.Info.ID, "")); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, isRedacted(laugh.ID))

			// The same contact writing to the user's LID lands in the same room as the same ghost.
			if _, err = carol.SendText(ctx, alice.acct.LID(), "to your LID"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "to your LID"))

			if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildEdit(alice.acct.JID(), carolReplyID, &waE2E.Message{Conversation: proto.String("Great!!")})); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
				c := evt.Content.AsMessage()
				return evt.Sender == carolGhost && c.RelatesTo.GetReplaceID() == great.ID && c.NewContent != nil && c.NewContent.Body == "Great!!"
			})
			if _, err = carol.Send(ctx, alice.acct.JID(), carol.Client().BuildRevoke(alice.acct.JID(), carol.JID(), carolReplyID)); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, isRedacted(great.ID))

			// Matrix -> WhatsApp edit and reaction.
			if _, err = alice.client.SendMessageEvent(ctx, dm, event.EventMessage, &event.MessageEventContent{
				MsgType: event.MsgText, Body: "* Fine, thank you",
				NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "Fine, thank you"},
				RelatesTo:  &event.RelatesTo{Type: event.RelReplace, EventID: reply.EventID},
			}); err != nil {
				t.Fatal(err)
			}
			if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
				pm := m.Message.GetProtocolMessage()
				return pm.GetType() == waE2E.ProtocolMessage_MESSAGE_EDIT && pm.GetKey().GetID() == got.Info.ID &&
					pm.GetEditedMessage().GetConversation() == "Fine, thank you"
			}); err != nil {
				t.Fatalf("edit did not reach WhatsApp: %v", err)
			}
			heart, err := alice.client.SendReaction(ctx, dm, first.ID, "\u2764\ufe0f")
			if err != nil {
				t.Fatal(err)
			}
			if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
				r := m.Message.GetReactionMessage()
				// Sent as WhatsApp's apps send it: without the emoji presentation selector.
				return r.GetKey().GetID() == firstID && r.GetText() == "\u2764"
			}); err != nil {
				t.Fatalf("reaction did not reach WhatsApp: %v", err)
			}
			// Removing the reaction (a redaction: Dendrite does not push it to appservices, the
			// bot's own sync reads it) removes it on WhatsApp.
			if _, err = alice.client.RedactEvent(ctx, dm, heart.EventID); err != nil {
				t.Fatal(err)
			}
			if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
				r := m.Message.GetReactionMessage()
				return r.GetKey().GetID() == firstID && r.GetText() == ""
			}); err != nil {
				t.Fatalf("reaction removal did not reach WhatsApp: %v", err)
			}

			// Matrix -> WhatsApp deletion, through Dendrite and the bot's sync.
			if _, err = alice.client.RedactEvent(ctx, dm, reply.EventID); err != nil {
				t.Fatal(err)
			}
			if _, err = carol.WaitMessage(ctx, func(m *events.Message) bool {
				pm := m.Message.GetProtocolMessage()
				return pm.GetType() == waE2E.ProtocolMessage_REVOKE && pm.GetKey().GetID() == got.Info.ID
			}); err != nil {
				t.Fatalf("deletion did not reach WhatsApp: %v", err)
			}

			// A message from the user's own phone shows up as sent by the user's own ghost.
			if _, err = alice.acct.Phone().SendText(ctx, carol.JID(), "sent from my phone"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, fromGhost(ghostOf(env, "4915112345678"), "sent from my phone"))

			// Ordering and exactly once: a burst arrives complete, in order, once each, with
			// WhatsApp's timestamps.
			var sent []string
			for i := 0; i < 5; i++ {
				text := "burst " + string(rune('a'+i))
				if _, err = carol.SendText(ctx, alice.acct.JID(), text); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, text)
			}
			env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "burst e"))
			env.RestartBridge()
			if _, err = carol.SendText(ctx, alice.acct.JID(), "after restart"); err != nil {
				t.Fatal(err)
			}
			env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "after restart"))
			timeline, err := e2e.Timeline(ctx, alice.client, dm, 500)
			if err != nil {
				t.Fatal(err)
			}
			var bursts []string
			for _, evt := range timeline {
				if evt.Sender == carolGhost && strings.HasPrefix(evt.Content.AsMessage().Body, "burst ") {
					bursts = append(bursts, evt.Content.AsMessage().Body)
				}
			}
			if strings.Join(bursts, ",") != strings.Join(sent, ",") {
				t.Errorf("burst arrived as %v, want %v exactly once in order", bursts, sent)
			}
			if first.Timestamp > time.Now().UnixMilli() || first.Timestamp < time.Now().Add(-5*time.Minute).UnixMilli() {
				t.Errorf("first message has timestamp %d", first.Timestamp)
			}
		})
	}
}

// isRedacted matches the event eventID once it has been redacted.
func isRedacted(eventID id.EventID) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.ID == eventID && evt.Unsigned.RedactedBecause != nil
	}
}
