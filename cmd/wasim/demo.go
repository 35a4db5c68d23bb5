package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/demo"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// demoOptions are the -demo-* flags.
type demoOptions struct {
	homeserver   string
	user         string
	passwordFile string
	bot          string
	ghostPrefix  string
	bridgeURL    string
	readyFile    string
	timeout      time.Duration
}

func (o *demoOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.homeserver, "demo-homeserver", "", "run the demo against this Matrix homeserver URL")
	fs.StringVar(&o.user, "demo-user", "@demo:localhost", "demo: the Matrix user to link")
	fs.StringVar(&o.passwordFile, "demo-password-file", "", "demo: file holding the Matrix user's password")
	fs.StringVar(&o.bot, "demo-bot", "", "demo: the bridge bot (default @whatsappbot on the user's server)")
	fs.StringVar(&o.ghostPrefix, "demo-ghost-prefix", "whatsapp_", "demo: localpart prefix of the bridge's ghosts")
	fs.StringVar(&o.bridgeURL, "demo-bridge-url", "", "demo: the bridge's appservice URL, polled until it is up")
	fs.StringVar(&o.readyFile, "demo-ready-file", "", "demo: write the room IDs here (key=value lines) once the echo works")
	fs.DurationVar(&o.timeout, "demo-timeout", 5*time.Minute, "demo: give up when the set-up takes longer")
}

func (o *demoOptions) enabled() bool { return o.homeserver != "" }

// runDemo logs in to Matrix as the demo user, sets the demo up and keeps the Echo Bot answering
// until ctx ends.
func runDemo(ctx context.Context, srv *wasim.Server, opts demoOptions, log zerolog.Logger) error {
	user := id.UserID(opts.user)
	localpart, server, err := user.Parse()
	if err != nil {
		return fmt.Errorf("bad -demo-user: %w", err)
	}
	bot := id.UserID(opts.bot)
	if bot == "" {
		bot = id.NewUserID("whatsappbot", server)
	}
	if opts.passwordFile == "" {
		return errors.New("-demo-password-file is required")
	}
	password, err := os.ReadFile(opts.passwordFile)
	if err != nil {
		return fmt.Errorf("failed to read the password: %w", err)
	}
	loginCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client, err := mautrix.NewClient(opts.homeserver, "", "")
	if err != nil {
		return err
	}
	if _, err = client.Login(loginCtx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: localpart},
		Password:                 strings.TrimSpace(string(password)),
		InitialDeviceDisplayName: "matrix-whatsapp demo driver",
		StoreCredentials:         true,
	}); err != nil {
		return fmt.Errorf("failed to log in to Matrix as %s: %w", user, err)
	}
	defer func() {
		// Each run logs in anew; do not leave a device behind per run.
		logoutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = client.Logout(logoutCtx)
	}()

	started := time.Now()
	d, err := demo.Start(ctx, demo.Config{
		Server: srv, Matrix: client, Bot: bot, GhostPrefix: opts.ghostPrefix,
		BridgeURL: opts.bridgeURL, Out: os.Stdout, Log: log, SetupTimeout: opts.timeout,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log.Info().Dur("took", time.Since(started)).Msg("Demo is ready")
	if opts.readyFile != "" {
		if err = writeReady(opts.readyFile, d); err != nil {
			return err
		}
		defer os.Remove(opts.readyFile)
	}
	<-ctx.Done()
	d.Wait()
	return nil
}

// writeReady writes what the demo script prints, as key=value lines.
func writeReady(path string, d *demo.Demo) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "management_room=%s\n", d.ManagementRoom)
	fmt.Fprintf(&sb, "echo_room=%s\n", d.EchoRoom)
	fmt.Fprintf(&sb, "echo_ghost=%s\n", d.EchoGhost)
	fmt.Fprintf(&sb, "group_room=%s\n", d.GroupRoom)
	fmt.Fprintf(&sb, "phone=+%s\n", d.Account.JID().User)
	fmt.Fprintf(&sb, "echo_phone=%s\n", demo.EchoBot.Phone)
	fmt.Fprintf(&sb, "alice_phone=%s\n", demo.Alice.Phone)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
