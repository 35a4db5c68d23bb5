package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// botNotice matches a notice from the bridge bot whose body contains every one of parts.
func botNotice(env *e2e.Env, parts ...string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		if evt.Sender != env.BotMXID() || evt.Type != event.EventMessage {
			return false
		}
		body := evt.Content.AsMessage().Body
		for _, part := range parts {
			if !strings.Contains(body, part) {
				return false
			}
		}
		return true
	}
}

func sendText(t testing.TB, ctx context.Context, client *mautrix.Client, roomID id.RoomID, text string) id.EventID {
	t.Helper()
	resp, err := client.SendText(ctx, roomID, text)
	if err != nil {
		t.Fatalf("%s failed to send %q: %v", client.UserID, text, err)
	}
	return resp.EventID
}

// openManagementRoom creates a DM of client with the bot, waits for the bot to join and for its
// welcome, and returns the room.
func openManagementRoom(t testing.TB, ctx context.Context, env *e2e.Env, client *mautrix.Client) id.RoomID {
	t.Helper()
	room := env.CreateDM(t, client, env.BotMXID())
	env.WaitForJoin(ctx, client, room, env.BotMXID())
	env.WaitForMessage(ctx, client, room, botNotice(env, "management room"))
	return room
}

// TestManagementRoom: a permitted user invites the bot to a DM, the bot joins, the room becomes the
// management room and `help` is answered there without a prefix; in a shared room only prefixed
// commands are answered; a user without permission is refused politely and nothing else.
func TestManagementRoom(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.All {
		t.Run(string(dialect), func(t *testing.T) {
			t.Parallel()
			env := e2e.New(t, e2e.Options{Database: dialect, Config: func(cfg map[string]any) {
				perms := e2e.GetConfig(cfg, "bridge.permissions").(map[string]any)
				perms["@mallory:"+e2e.Domain] = "relay"
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			alice := env.NewUser(t, "alice")
			room := openManagementRoom(t, ctx, env, alice)

			sendText(t, ctx, alice, room, "help")
			help := env.WaitForMessage(ctx, alice, room, botNotice(env, "`login"))
			body := help.Content.AsMessage().Body
			for _, want := range []string{"management room", "`help`", "`logout [number]`", "`list-logins`", "`set-default-login <number>`", "`status [number]` / `ping [number]`", "`search [name or number] [from <your number>]`"} {
				if !strings.Contains(body, want) {
					t.Errorf("help in the management room lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "!wa login") {
				t.Errorf("help in the management room shows the prefix:\n%s", body)
			}

			// A notice is never a command (bots send notices; two answering each other would
			// not stop): the next reply is the one to the text after it.
			if _, err := alice.SendNotice(ctx, room, "version"); err != nil {
				t.Fatal(err)
			}
			sendText(t, ctx, alice, room, "frobnicate")
			unknown := env.WaitForMessage(ctx, alice, room, botNotice(env, "Unknown command", "frobnicate"))
			timeline, err := e2e.Timeline(ctx, alice, room, 20)
			if err != nil {
				t.Fatal(err)
			}
			for _, evt := range timeline {
				if evt.Sender == env.BotMXID() && evt.ID != unknown.ID && strings.HasPrefix(evt.Content.AsMessage().Body, "matrix-whatsapp ") {
					t.Errorf("the bot answered a notice: %q", evt.Content.AsMessage().Body)
				}
			}
			// An input too long for the reply to quote whole is still answered.
			sendText(t, ctx, alice, room, strings.Repeat("x", 60000))
			env.WaitForMessage(ctx, alice, room, botNotice(env, "Unknown command `"+strings.Repeat("x", 64)+"…`"))

			// A room shared with another user: the bot only answers prefixed commands.
			bob := env.NewUser(t, "bob")
			shared, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID, env.BotMXID()}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err = bob.JoinRoomByID(ctx, shared.RoomID); err != nil {
				t.Fatal(err)
			}
			env.WaitForJoin(ctx, alice, shared.RoomID, env.BotMXID())
			sendText(t, ctx, alice, shared.RoomID, "help")
			sendText(t, ctx, alice, shared.RoomID, "!wa help")
			prefixed := env.WaitForMessage(ctx, alice, shared.RoomID, botNotice(env, "`!wa login"))
			timeline, err = e2e.Timeline(ctx, alice, shared.RoomID, 100)
			if err != nil {
				t.Fatal(err)
			}
			replies := 0
			for _, evt := range timeline {
				if evt.Sender == env.BotMXID() && evt.Type == event.EventMessage {
					replies++
				}
			}
			if replies != 1 {
				t.Errorf("bot answered %d messages in the shared room, want only the prefixed one (%s)", replies, prefixed.ID)
			}

			// The management room survives a restart.
			env.RestartBridge()
			sendText(t, ctx, alice, room, "version")
			env.WaitForMessage(ctx, alice, room, botNotice(env, "matrix-whatsapp"))

			// A user without permission gets a refusal and the bot leaves.
			mallory := env.NewUser(t, "mallory")
			denied := env.CreateDM(t, mallory, env.BotMXID())
			env.WaitForMessage(ctx, mallory, denied, botNotice(env, "not allowed"))
			waitForLeave(t, ctx, mallory, denied, env.BotMXID())
		})
	}
}

func waitForLeave(t testing.TB, ctx context.Context, client *mautrix.Client, roomID id.RoomID, userID id.UserID) {
	t.Helper()
	for {
		resp, err := client.JoinedMembers(ctx, roomID)
		if err == nil {
			if _, joined := resp.Joined[userID]; !joined {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not leave %s", userID, roomID)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitForNotices waits until the room holds at least n bot notices containing every one of parts.
func waitForNotices(t testing.TB, ctx context.Context, env *e2e.Env, client *mautrix.Client, roomID id.RoomID, n int, parts ...string) {
	t.Helper()
	match := botNotice(env, parts...)
	for {
		timeline, err := e2e.Timeline(ctx, client, roomID, 500)
		if err == nil {
			count := 0
			for _, evt := range timeline {
				if match(evt) {
					count++
				}
			}
			if count >= n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("fewer than %d bot notices with %q in %s", n, parts, roomID)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
