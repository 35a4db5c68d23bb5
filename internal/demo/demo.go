// Package demo drives the `make demo` scenario: a simulated WhatsApp phone with a few contacts is
// linked to a Matrix user through the bridge, exactly as a person would do it, and one contact (the
// Echo Bot) answers every message.
//
// The driver works only through public interfaces: on the Matrix side a client of the demo user
// (management room commands, the QR image the bot posts, portal rooms), on the WhatsApp side the
// simulator's Go API (accounts, contacts that are real whatsmeow clients, ScanQR). It never reads
// the bridge's database.
//
// Start is safe to run again against the same homeserver and bridge data with a fresh simulator:
// the management room is found again through m.direct, a stale WhatsApp session is deleted before
// logging in, and the Echo Bot's portal is found again because the bridge keys a 1:1 chat by the
// contact's phone number.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// Texts the demo contacts send, exported so tests and docs can name them.
const (
	// Greeting is the Echo Bot's first message, which makes its portal appear.
	Greeting = "Hi! I am Echo Bot. Send me anything."
	// CheckText is what the driver sends to the Echo Bot from Matrix to check the whole path.
	CheckText = "Hello Echo Bot!"
	// GroupName is the WhatsApp group of Alice, Bob and the demo user.
	GroupName = "Demo group"
	// GroupHello is Alice's first message in the group.
	GroupHello = "Hello everyone! This is a WhatsApp group."
)

// Config says where the demo runs.
type Config struct {
	// Server is the simulator the bridge is configured to use.
	Server *wasim.Server
	// Matrix is a logged-in client of the demo user.
	Matrix *mautrix.Client
	// Bot is the bridge bot's user ID.
	Bot id.UserID
	// GhostPrefix is the localpart prefix of the bridge's ghosts ("whatsapp_" for the template
	// "whatsapp_{{.}}"); a contact's ghost is @<prefix><phone>:<bot's server>.
	GhostPrefix string
	// BridgeURL, if set, is polled (/_matrix/mau/live) before talking to the bot.
	BridgeURL string
	// Out receives the progress lines a person reads. Nil means io.Discard.
	Out io.Writer
	// Log receives diagnostics.
	Log zerolog.Logger
	// SetupTimeout bounds the steps up to the verified echo (not the echo itself). Zero means
	// only ctx bounds them.
	SetupTimeout time.Duration
}

// Phone numbers and names of the simulated WhatsApp accounts.
var (
	UserPhone = Person{"15550001", "Demo User"}
	EchoBot   = Person{"15550002", "Echo Bot"}
	Alice     = Person{"15550003", "Alice"}
	Bob       = Person{"15550004", "Bob"}
)

// Person is a simulated WhatsApp account: phone number (digits only) and push name.
type Person struct {
	Phone string
	Name  string
}

// Demo is a running demo: the user is linked and the Echo Bot answers until the ctx given to Start
// ends.
type Demo struct {
	// Account is the demo user's simulated WhatsApp account.
	Account *wasim.Account
	// ManagementRoom is the user's direct chat with the bridge bot.
	ManagementRoom id.RoomID
	// EchoRoom is the portal of the chat with the Echo Bot.
	EchoRoom id.RoomID
	// EchoGhost is the Echo Bot's ghost user.
	EchoGhost id.UserID
	// GroupRoom is the portal of the demo group, empty when the simulator has no groups.
	GroupRoom id.RoomID
	// GroupError says why there is no group portal.
	GroupError error
	// HistoryRoom is the portal of the chat with Alice, which has history from before the link;
	// empty when the history did not come over (HistoryError says why).
	HistoryRoom  id.RoomID
	HistoryError error

	echo *Echo
}

// Wait blocks until the Echo Bot has stopped, after the ctx given to Start ended.
func (d *Demo) Wait() { d.echo.Wait() }

// Start runs the scenario up to a verified echo and returns; the Echo Bot keeps answering until ctx
// ends. Each step is announced on cfg.Out.
func Start(ctx context.Context, cfg Config) (*Demo, error) {
	echoCtx := ctx
	if cfg.SetupTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.SetupTimeout)
		defer cancel()
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	progress := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	m := &matrixSide{client: cfg.Matrix, bot: cfg.Bot}

	progress("Creating the simulated phone %s (%s) and its contacts Echo Bot, Alice and Bob...", "+"+UserPhone.Phone, UserPhone.Name)
	acct, err := ensureAccount(ctx, cfg.Server, UserPhone)
	if err != nil {
		return nil, err
	}
	contacts := make(map[string]*wasim.Contact)
	for _, p := range []Person{EchoBot, Alice, Bob} {
		a, err := ensureAccount(ctx, cfg.Server, p)
		if err != nil {
			return nil, err
		}
		contacts[p.Phone] = a.Phone()
	}
	d := &Demo{Account: acct, EchoGhost: ghost(cfg, EchoBot)}
	d.echo = StartEcho(echoCtx, contacts[EchoBot.Phone], cfg.Log.With().Str("contact", "echo").Logger())

	progress("Waiting for the bridge bot %s...", cfg.Bot)
	if err = m.waitBridge(ctx, cfg.BridgeURL); err != nil {
		return nil, err
	}
	progress("Opening the management room (a direct chat with %s)...", cfg.Bot)
	if d.ManagementRoom, err = m.managementRoom(ctx); err != nil {
		return nil, err
	}
	progress("Giving the phone some chat history from two days ago (Alice, Bob and the group %q)...", HistoryGroupName)
	accounts := map[string]*wasim.Account{}
	for _, p := range []Person{Alice, Bob} {
		accounts[p.Phone] = contacts[p.Phone].Account()
	}
	historyErr := seedHistory(ctx, cfg.Server, acct, accounts[Alice.Phone], accounts[Bob.Phone])
	m.leaveOldGroups(ctx, HistoryGroupName)
	var before id.EventID
	if events, err := m.timeline(ctx, d.ManagementRoom); err == nil && len(events) > 0 {
		before = events[len(events)-1].ID
	}
	progress("Sending `login` to the bridge bot...")
	if err = m.linkPhone(ctx, d.ManagementRoom, acct, progress); err != nil {
		return nil, err
	}
	progress("Linked: the bridge is now a companion device of +%s.", UserPhone.Phone)
	if historyErr == nil {
		historyErr = waitHistory(ctx, m, d.ManagementRoom, before)
	}
	if historyErr == nil {
		d.HistoryRoom, historyErr = m.findPortal(ctx, "the chat with Alice", ghost(cfg, Alice), HistoryFirst, time.Time{})
	}
	d.HistoryError = historyErr
	if historyErr != nil {
		progress("No chat history: %v", historyErr)
	} else {
		progress("Your phone's chat history is in Matrix: the chats with Alice and Bob and the group %q.", HistoryGroupName)
	}

	progress("Echo Bot says hello, which makes the bridge create its portal room...")
	since := time.Now()
	if _, err = contacts[EchoBot.Phone].SendText(ctx, acct.JID(), Greeting); err != nil {
		return nil, fmt.Errorf("echo bot failed to send its greeting: %w", err)
	}
	if d.EchoRoom, err = m.findPortal(ctx, "the Echo Bot portal", d.EchoGhost, Greeting, since); err != nil {
		return nil, err
	}
	progress("Checking the round trip: sending %q to Echo Bot from Matrix...", CheckText)
	sent, err := m.client.SendText(ctx, d.EchoRoom, CheckText)
	if err != nil {
		return nil, fmt.Errorf("failed to send to the Echo Bot portal: %w", err)
	}
	if _, err = m.waitEvent(ctx, "the echo in Matrix", d.EchoRoom, sent.EventID, func(evt *event.Event) bool {
		return evt.Sender == d.EchoGhost && evt.Content.AsMessage().Body == EchoPrefix+CheckText
	}); err != nil {
		return nil, err
	}
	progress("Echo Bot answered %q through WhatsApp and the bridge.", EchoPrefix+CheckText)

	d.GroupRoom, d.GroupError = startGroup(ctx, cfg, m, acct, contacts[Alice.Phone], contacts[Bob.Phone])
	if d.GroupError != nil {
		progress("No group chat: %v", d.GroupError)
	} else {
		progress("Alice said hello in the WhatsApp group %q.", GroupName)
	}
	return d, nil
}

// ensureAccount creates a simulated account, or returns the existing one of that number.
func ensureAccount(ctx context.Context, srv *wasim.Server, p Person) (*wasim.Account, error) {
	acct, err := srv.CreateAccount(ctx, p.Phone, p.Name)
	if errors.Is(err, wasim.ErrAccountExists) {
		return srv.Account(p.Phone)
	} else if err != nil {
		return nil, fmt.Errorf("failed to create the WhatsApp account of %s: %w", p.Name, err)
	}
	return acct, nil
}

// ghost is the Matrix user ID of a contact's ghost.
func ghost(cfg Config, p Person) id.UserID {
	return id.NewUserID(cfg.GhostPrefix+p.Phone, cfg.Bot.Homeserver())
}
