package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/portal"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// fromCompanion reports whether a WhatsApp sender JID is the bridge's device of acct.
func fromCompanion(acct *wasim.Account, device uint16, sender types.JID) bool {
	return sender.Device == device && (sender.User == acct.JID().User || sender.User == acct.LID().User)
}

// TestDoublePuppeting covers double puppeting through a second registration installed in Dendrite:
// a message, an edit, a reaction, a deletion and a read receipt made on the phone appear in Matrix
// as the user's real account (whose read markers and m.direct follow), nothing of it is bridged
// back to WhatsApp, and `double-puppet off` returns to the user's ghost.
func TestDoublePuppeting(t *testing.T) {
	t.Parallel()
	env := newWAEnvWith(t, e2e.Options{Database: testdb.SQLite, DoublePuppet: true}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	me := alice.client.UserID
	phone := alice.acct.Phone()
	device := companionDevice(t, alice.acct)
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")

	// Pinned on the phone before the chat has a room: the new room is tagged for the user.
	yes, no := true, false
	if err := alice.acct.SetChatSettings(ctx, carol.JID(), wasim.ChatSettings{Pinned: &yes}); err != nil {
		t.Fatal(err)
	}
	hiID, err := carol.SendText(ctx, alice.acct.JID(), "Hi Alice")
	if err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	hi := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "Hi Alice"))
	waitRoomSettings(t, ctx, alice.client, dm, "pinned", event.RoomTagFavourite, false)

	// The user's own m.direct lists the DM portal.
	var direct event.DirectChatsEventContent
	waitFor(t, ctx, "the user's m.direct to list the portal", func() bool {
		direct = event.DirectChatsEventContent{}
		if err := alice.client.GetAccountData(ctx, event.AccountDataDirectChats.Type, &direct); err != nil {
			return false
		}
		for _, room := range direct[carolGhost] {
			if room == dm {
				return true
			}
		}
		return false
	})

	// A message from the phone appears as the user's real account.
	phoneID, err := phone.SendText(ctx, carol.JID(), "from my phone")
	if err != nil {
		t.Fatal(err)
	}
	fromPhone := env.WaitForMessage(ctx, alice.client, dm, fromGhost(me, "from my phone"))
	// It carries its transaction ID, so that a bridge that crashed while sending it finds it
	// instead of posting it twice.
	if txn, _ := fromPhone.Content.Raw[portal.TxnIDKey].(string); txn == "" {
		t.Errorf("the double-puppeted message carries no %s: %v", portal.TxnIDKey, fromPhone.Content.Raw)
	}

	// An edit on the phone.
	if _, err = phone.Send(ctx, carol.JID(), phone.Client().BuildEdit(carol.JID(), phoneID, &waE2E.Message{Conversation: proto.String("edited on my phone")})); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		msg := evt.Content.AsMessage()
		return evt.Sender == me && evt.Type == event.EventMessage && msg.NewContent != nil && msg.NewContent.Body == "edited on my phone" &&
			msg.RelatesTo.GetReplaceID() == fromPhone.ID
	})

	// A reaction on the phone to the contact's message.
	if _, err = phone.Send(ctx, carol.JID(), phone.Client().BuildReaction(carol.JID(), carol.JID(), hiID, "👍")); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		if evt.Sender != me || evt.Type != event.EventReaction {
			return false
		}
		rel := evt.Content.AsReaction().RelatesTo
		return rel.EventID == hi.ID && strings.TrimSuffix(rel.Key, "\ufe0f") == "👍"
	})

	// A deletion on the phone redacts the message as the user.
	if _, err = phone.Send(ctx, carol.JID(), phone.Client().BuildRevoke(carol.JID(), types.EmptyJID, phoneID)); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, func(evt *event.Event) bool {
		return evt.Type == event.EventRedaction && evt.Sender == me && evt.Redacts == fromPhone.ID
	})

	// Reading on the phone moves the user's read receipt and fully-read marker.
	readID, err := carol.SendText(ctx, alice.acct.JID(), "read me")
	if err != nil {
		t.Fatal(err)
	}
	readEvt := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "read me"))
	if err = phone.Client().MarkRead(ctx, []types.MessageID{readID}, time.Now(), carol.JID(), carol.JID()); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, ctx, alice.client, dm, "the user's read receipt", func(evt *event.Event) bool {
		if evt.Type != event.EphemeralEventReceipt {
			return false
		}
		_, ok := (*evt.Content.AsReceipt())[readEvt.ID][event.ReceiptTypeRead][me]
		return ok
	})
	waitFor(t, ctx, "the user's fully-read marker", func() bool {
		var marker struct {
			EventID id.EventID `json:"event_id"`
		}
		err := alice.client.GetRoomAccountData(ctx, dm, "m.fully_read", &marker)
		return err == nil && marker.EventID == readEvt.ID
	})

	// Muting the chat on the phone mutes its room for the user; archiving (which unpins) and
	// unmuting follow.
	if err = alice.acct.SetChatSettings(ctx, carol.JID(), wasim.ChatSettings{Muted: &yes}); err != nil {
		t.Fatal(err)
	}
	waitRoomSettings(t, ctx, alice.client, dm, "pinned and muted", event.RoomTagFavourite, true)
	if err = alice.acct.SetChatSettings(ctx, carol.JID(), wasim.ChatSettings{Archived: &yes, Muted: &no}); err != nil {
		t.Fatal(err)
	}
	waitRoomSettings(t, ctx, alice.client, dm, "archived and unmuted", event.RoomTagLowPriority, false)

	// Nothing of that came back to WhatsApp. The marks: a message and a read receipt the user
	// makes in Matrix now, which reach WhatsApp after anything bridged back before them.
	sendText(t, ctx, alice.client, dm, "typed in Matrix")
	waitWAText(t, ctx, carol, "typed in Matrix")
	lastID, err := carol.SendText(ctx, alice.acct.JID(), "last")
	if err != nil {
		t.Fatal(err)
	}
	last := env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "last"))
	if err = alice.client.SendReceipt(ctx, dm, last.ID, event.ReceiptTypeRead, nil); err != nil {
		t.Fatal(err)
	}
	if _, err = carol.WaitEvent(ctx, func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && fromCompanion(alice.acct, device, r.Sender) && len(r.MessageIDs) > 0 && r.MessageIDs[0] == lastID
	}); err != nil {
		t.Fatalf("read receipt from Matrix never reached WhatsApp: %v", err)
	}
	if n := carol.Count(func(evt any) bool {
		m, ok := evt.(*events.Message)
		return ok && fromCompanion(alice.acct, device, m.Info.Sender)
	}); n != 1 {
		t.Errorf("contact got %d messages from the bridge, want only the one typed in Matrix", n)
	}
	if n := carol.Count(func(evt any) bool {
		r, ok := evt.(*events.Receipt)
		return ok && r.Type == types.ReceiptTypeRead && fromCompanion(alice.acct, device, r.Sender) && !(len(r.MessageIDs) > 0 && r.MessageIDs[0] == lastID)
	}); n != 0 {
		t.Errorf("contact got %d read receipts from the bridge for what the phone read", n)
	}

	// double-puppet off: the user's ghost shows what the phone does again.
	sendText(t, ctx, alice.client, alice.room, "double-puppet off")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "Double puppeting is off"))
	if _, err = phone.SendText(ctx, carol.JID(), "ghost again"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(ghostOf(env, "4915112345678"), "ghost again"))
}

// TestDoublePuppetNotConfigured checks that without a double puppeting registration the phone's
// messages keep showing as the user's ghost and the command says so.
func TestDoublePuppetNotConfigured(t *testing.T) {
	t.Parallel()
	env := newWAEnv(t, testdb.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	carol, carolGhost := newContact(t, ctx, env, "4917600000002", "Carol")
	if _, err := carol.SendText(ctx, alice.acct.JID(), "Hi Alice"); err != nil {
		t.Fatal(err)
	}
	dm := joinPortal(t, ctx, env, alice.client, carolGhost)
	if _, err := alice.acct.Phone().SendText(ctx, carol.JID(), "from my phone"); err != nil {
		t.Fatal(err)
	}
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(ghostOf(env, "4915112345678"), "from my phone"))
	sendText(t, ctx, alice.client, alice.room, "double-puppet on")
	env.WaitForMessage(ctx, alice.client, alice.room, botNotice(env.Env, "not set up"))
}

// waitRoomSettings waits until the user's tags of roomID are exactly tag and the user's room push
// rule for it (one without actions, so nothing notifies) exists when muted, else not.
func waitRoomSettings(t testing.TB, ctx context.Context, client *mautrix.Client, roomID id.RoomID, what string, tag event.RoomTag, muted bool) {
	t.Helper()
	waitFor(t, ctx, "the room to show as "+what, func() bool {
		tags, err := client.GetTags(ctx, roomID)
		if err != nil || len(tags.Tags) != 1 {
			return false
		}
		if _, ok := tags.Tags[tag]; !ok {
			return false
		}
		rule, err := client.GetPushRule(ctx, "global", pushrules.RoomRule, string(roomID))
		if muted {
			return err == nil && len(rule.Actions) == 0
		}
		return errors.Is(err, mautrix.MNotFound)
	})
}
