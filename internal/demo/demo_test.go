package demo_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/demo"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// TestDemoEcho runs the demo driver against Dendrite, the bridge binary and an in-process simulator,
// as `make demo` does: the phone gets linked by scanning the posted QR code, the Echo Bot's portal
// appears with its greeting, and a message typed in Matrix comes back as an echo. Then it runs the
// demo a second time the way a second `make demo` does (a fresh simulator on the same address, a
// restarted bridge with the old session in its database) and the echo works again in the same room.
func TestDemoEcho(t *testing.T) {
	t.Parallel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv, err := wasim.New(context.Background(), wasim.Options{Log: &log})
	if err != nil {
		t.Fatalf("failed to start wasim: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	addr := srv.Addr()
	env := e2e.New(t, e2e.Options{Database: testdb.SQLite, Config: func(cfg map[string]any) {
		e2e.SetConfig(cfg, "whatsapp.dial_address", addr)
		e2e.SetConfig(cfg, "whatsapp.plain_http", true)
		e2e.SetConfig(cfg, "whatsapp.noise_root_pubkey", srv.RootPublicKeyHex())
	}})
	client := env.NewUser(t, "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var out strings.Builder
	cfg := demo.Config{
		Server: srv, Matrix: client, Bot: env.BotMXID(), GhostPrefix: "whatsapp_",
		BridgeURL: env.BridgeURL(), Out: &out, Log: log,
	}
	runCtx, stopEcho := context.WithCancel(ctx)
	first, err := demo.Start(runCtx, cfg)
	if err != nil {
		t.Fatalf("demo failed: %v\nprogress:\n%s", err, out.String())
	}
	for _, line := range []string{"Linking the simulated phone: scanning the QR code", "Echo Bot answered"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, out.String())
		}
	}
	env.WaitForMessage(ctx, client, first.EchoRoom, func(evt *event.Event) bool {
		return evt.Sender == first.EchoGhost && evt.Content.AsMessage().Body == demo.Greeting
	})

	// The WhatsApp group of Alice, Bob and the user is bridged with Alice's hello.
	if first.GroupError != nil {
		t.Fatalf("no group portal: %v", first.GroupError)
	}
	env.WaitForMessage(ctx, client, first.GroupRoom, func(evt *event.Event) bool {
		return evt.Sender == "@whatsapp_"+id.UserID(demo.Alice.Phone)+":"+e2e.Domain && evt.Content.AsMessage().Body == demo.GroupHello
	})

	// The phone's history came over: the chat with Alice, oldest first, with the photo and the reply.
	if first.HistoryError != nil {
		t.Fatalf("no history: %v", first.HistoryError)
	}
	assertHistory(t, ctx, client, first.HistoryRoom)

	// A message typed by the user reaches the contact on WhatsApp and comes back as an echo.
	assertEcho(t, ctx, env, client, srv, first, "Is anybody there?")
	stopEcho()
	first.Wait()

	// Second run: the simulator forgot everything, the bridge still has the old session.
	if err = srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2, err := wasim.New(context.Background(), wasim.Options{Addr: addr, Log: &log})
	if err != nil {
		t.Fatalf("failed to restart wasim on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	env.RestartBridge()
	cfg.Server = srv2
	out.Reset()
	second, err := demo.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("second demo run failed: %v\nprogress:\n%s", err, out.String())
	}
	if second.ManagementRoom != first.ManagementRoom {
		t.Errorf("second run opened management room %s, want the first run's %s", second.ManagementRoom, first.ManagementRoom)
	}
	if second.EchoRoom != first.EchoRoom {
		t.Errorf("second run bridged Echo Bot into %s, want the first run's room %s", second.EchoRoom, first.EchoRoom)
	}
	assertEcho(t, ctx, env, client, srv2, second, "Still there?")
	// The same history again adds nothing to the chat with Alice.
	if second.HistoryError != nil || second.HistoryRoom != first.HistoryRoom {
		t.Fatalf("second run's history room is %q (error %v), want the first run's %s", second.HistoryRoom, second.HistoryError, first.HistoryRoom)
	}
	assertHistory(t, ctx, client, second.HistoryRoom)
	// The new simulator has a new group; the old group's room is left, so only one "Demo group" shows.
	if second.GroupError != nil || second.GroupRoom == first.GroupRoom {
		t.Fatalf("second run's group portal is %q (error %v), want a new room", second.GroupRoom, second.GroupError)
	}
	rooms, err := client.JoinedRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rooms.JoinedRooms, first.GroupRoom) {
		t.Errorf("the first run's group room %s is still joined", first.GroupRoom)
	}
}

// assertHistory checks the chat with Alice holds the demo history once, oldest first.
func assertHistory(t *testing.T, ctx context.Context, client *mautrix.Client, room id.RoomID) {
	t.Helper()
	timeline, err := e2e.Timeline(ctx, client, room, 200)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, evt := range timeline {
		if evt.Type == event.EventMessage {
			bodies = append(bodies, evt.Content.AsMessage().Body)
		} else if evt.Type == event.EventReaction {
			bodies = append(bodies, "reaction "+evt.Content.AsReaction().RelatesTo.Key)
		}
	}
	want := []string{demo.HistoryFirst, "Yes! Look where I went", demo.HistoryPhotoCaption, "Wow, where is that?", "reaction ❤️"}
	if !slices.Equal(bodies, want) {
		t.Errorf("the chat with Alice shows %q, want %q", bodies, want)
	}
}

// assertEcho sends text to the Echo Bot portal and waits for the contact to receive it on WhatsApp
// and for its echo in Matrix.
func assertEcho(t *testing.T, ctx context.Context, env *e2e.Env, client *mautrix.Client, srv *wasim.Server, d *demo.Demo, text string) {
	t.Helper()
	if _, err := client.SendText(ctx, d.EchoRoom, text); err != nil {
		t.Fatal(err)
	}
	echoAcct, err := srv.Account(demo.EchoBot.Phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = echoAcct.Phone().WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageText(m) == text }); err != nil {
		t.Fatalf("Echo Bot never received %q on WhatsApp: %v", text, err)
	}
	env.WaitForMessage(ctx, client, d.EchoRoom, func(evt *event.Event) bool {
		return evt.Sender == d.EchoGhost && evt.Content.AsMessage().Body == demo.EchoPrefix+text
	})
}
