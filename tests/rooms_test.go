package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// whatsmeowSendTimeout is how long whatsmeow waits for the server to accept a message before its
// send fails. Rooms that do not wait for each other get their messages through well before a held
// send gives up; rooms drained one after another would wait for it.
const whatsmeowSendTimeout = 75 * time.Second

// bridgedRoom is a portal room with the contact at the other end.
type bridgedRoom struct {
	user    *loggedInUser
	room    id.RoomID
	contact *wasim.Contact
	name    string
}

// openDM has the contact write to the user first, so that the bridge creates the portal, and
// joins it.
func openDM(t *testing.T, ctx context.Context, env *waEnv, user *loggedInUser, phone, name string, skip ...id.RoomID) *bridgedRoom {
	t.Helper()
	contact, _, room := openDMSaying(t, ctx, env, user, phone, name, "hi from "+name, skip...)
	return &bridgedRoom{user: user, room: room, contact: contact, name: name}
}

// openDMSaying is openDM with the contact's first message given: it returns the contact, its
// ghost and the DM portal's room, which the user has joined once first arrived there.
func openDMSaying(t *testing.T, ctx context.Context, env *waEnv, user *loggedInUser, phone, name, first string, skip ...id.RoomID) (*wasim.Contact, id.UserID, id.RoomID) {
	t.Helper()
	contact, ghost := newContact(t, ctx, env, phone, name)
	if _, err := contact.SendText(ctx, user.acct.JID(), first); err != nil {
		t.Fatal(err)
	}
	room := joinPortal(t, ctx, env, user.client, ghost, skip...)
	env.WaitForMessage(ctx, user.client, room, fromGhost(ghost, first))
	return contact, ghost, room
}

// send writes text in the room from Matrix and returns it.
func (r *bridgedRoom) send(t *testing.T, ctx context.Context, text string) string {
	t.Helper()
	if _, err := r.user.client.SendText(ctx, r.room, text); err != nil {
		t.Fatalf("failed to send %q to %s's room: %v", text, r.name, err)
	}
	return text
}

// expectReceived waits for the contact to receive the last of texts, then checks that it received
// all of them in order, once each.
func (r *bridgedRoom) expectReceived(t *testing.T, ctx context.Context, texts []string) {
	t.Helper()
	waitWAText(t, ctx, r.contact, texts[len(texts)-1])
	if got := receivedOrder(r.contact, texts); fmt.Sprint(got) != fmt.Sprint(texts) {
		t.Errorf("%s received %v, want %v in order, once each", r.name, got, texts)
	}
}

// TestHeldRoomDoesNotHoldOthers: while WhatsApp holds back the messages to one chat (its send hangs
// in the bridge), Matrix messages in other rooms are still delivered, each room in order; once the
// chat is released its messages follow, in order, none lost or doubled.
//
// The other rooms belong to another login: whatsmeow sends one message at a time per connection,
// so a hanging send also holds its own login's other chats.
func TestHeldRoomDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			testHeldRoomDoesNotHoldOthers(t, dialect)
		})
	}
}

func testHeldRoomDoesNotHoldOthers(t *testing.T, dialect testdb.Dialect) {
	env := newWAEnv(t, dialect, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := newLoggedInUser(t, ctx, env, "alice", "4915112345678")
	erin := newLoggedInUser(t, ctx, env, "erin", "4915112345679")
	bob := openDM(t, ctx, env, alice, "4917600000001", "Bob")
	carol := openDM(t, ctx, env, erin, "4917600000002", "Carol")
	dave := openDM(t, ctx, env, erin, "4917600000003", "Dave", carol.room)

	if err := env.WA.HoldMessages(bob.contact.JID()); err != nil {
		t.Fatal(err)
	}
	var toBob []string
	for i := 1; i <= 3; i++ {
		toBob = append(toBob, bob.send(t, ctx, fmt.Sprintf("to Bob %d", i)))
	}
	waitFor(t, ctx, "the bridge's send to Bob to be held", func() bool {
		n, err := env.WA.HeldMessages(bob.contact.JID())
		return err == nil && n > 0
	})
	held := time.Now()

	var toCarol, toDave []string
	for i := 1; i <= 3; i++ {
		toCarol = append(toCarol, carol.send(t, ctx, fmt.Sprintf("to Carol %d", i)))
		toDave = append(toDave, dave.send(t, ctx, fmt.Sprintf("to Dave %d", i)))
	}
	beforeTimeout, cancelBefore := context.WithDeadline(ctx, held.Add(whatsmeowSendTimeout-5*time.Second))
	carol.expectReceived(t, beforeTimeout, toCarol)
	dave.expectReceived(t, beforeTimeout, toDave)
	cancelBefore()
	if got := receivedOrder(bob.contact, toBob); len(got) != 0 {
		t.Fatalf("Bob received %v while his chat was held", got)
	}

	if _, err := env.WA.ReleaseMessages(bob.contact.JID()); err != nil {
		t.Fatal(err)
	}
	bob.expectReceived(t, ctx, toBob)

	// A last message in each room: when it has arrived, any late duplicate of the earlier ones
	// would have too.
	for _, r := range []*bridgedRoom{bob, carol, dave} {
		r.send(t, ctx, "last to "+r.name)
	}
	bob.expectReceived(t, ctx, append(toBob, "last to Bob"))
	carol.expectReceived(t, ctx, append(toCarol, "last to Carol"))
	dave.expectReceived(t, ctx, append(toDave, "last to Dave"))
}
