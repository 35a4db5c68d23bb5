// Command matrix-whatsapp runs the Matrix <-> WhatsApp puppeting bridge.
//
//	matrix-whatsapp -g -c config.yaml -r registration.yaml   write the appservice registration
//	matrix-whatsapp -c config.yaml                           run the bridge
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"maunium.net/go/mautrix"

	matrixwhatsapp "github.com/matrix-whatsapp/matrix-whatsapp"
	"github.com/matrix-whatsapp/matrix-whatsapp/bridge"
	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/database"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/logging"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/version"
	"github.com/matrix-whatsapp/matrix-whatsapp/whatsapp"
)

func main() {
	configPath := flag.String("c", "config.yaml", "path to the config file")
	regPath := flag.String("r", "registration.yaml", "path of the registration file to write with -g")
	generate := flag.Bool("g", false, "generate the appservice registration, store its tokens in the config, and exit")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("matrix-whatsapp", version.Get())
		return
	}
	// An older config is upgraded in place first (a backup next to it), against the example config
	// built into the binary.
	cfg, err := config.LoadAndUpgrade(*configPath, matrixwhatsapp.ExampleConfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Invalid configuration:", err)
		os.Exit(2)
	}
	if err = cfg.CheckNotExample(); err != nil {
		// The example config parses (it documents every option), but it names no real server.
		fmt.Fprintln(os.Stderr, "Invalid configuration:", err)
		os.Exit(2)
	}
	if *generate {
		if err = cfg.WriteRegistration(*configPath, *regPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("Wrote %s and stored its tokens in %s.\n", *regPath, *configPath)
		regs := *regPath
		if cfg.Bridge.DoublePuppet.Enabled() {
			dpPath := config.DoublePuppetRegistrationPath(*regPath)
			fmt.Printf("Wrote %s for double puppeting and stored its token in %s.\n", dpPath, *configPath)
			regs += " and " + dpPath
		}
		fmt.Printf("Add %s to your homeserver's appservice config and restart it.\n", regs)
		return
	}
	if !cfg.HasTokens() {
		// Before anything is created (database, log file): the bridge cannot run without them.
		fmt.Fprintf(os.Stderr, "Invalid configuration: appservice.as_token and hs_token are not set: run `%s -g -c %s -r %s` to generate the registration first\n", os.Args[0], *configPath, *regPath)
		os.Exit(2)
	}
	if cfg.Bridge.DoublePuppet.Requested() && !cfg.Bridge.DoublePuppet.Enabled() {
		fmt.Fprintf(os.Stderr, "Invalid configuration: bridge.double_puppet.as_token is %q: run `%s -g -c %s -r %s` to generate the double puppeting registration first\n", config.Placeholder, os.Args[0], *configPath, *regPath)
		os.Exit(2)
	}
	if err = cfg.CheckRegistrationFile(*regPath); err != nil {
		fmt.Fprintln(os.Stderr, "Invalid registration:", err)
		os.Exit(2)
	}
	os.Exit(run(cfg, *configPath))
}

func run(cfg *config.Config, configPath string) int {
	log, logCloser, err := logging.New(cfg.Logging)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer logCloser.Close()
	// whatsmeow and libsignal keep their device name, server root key and logger in package
	// variables: set them once, before any client exists.
	if err = whatsapp.Configure(cfg.WhatsApp, log); err != nil {
		log.Err(err).Msg("Invalid configuration")
		return 2
	}
	// mautrix-go's clients copy this package variable when they are created: name the bridge and its
	// version in every request to the homeserver.
	mautrix.DefaultUserAgent = fmt.Sprintf("matrix-whatsapp/%s %s", version.Get().Short(), mautrix.DefaultUserAgent)
	log.Info().Str("version", version.Get().String()).Msg("Starting matrix-whatsapp")
	for _, warning := range cfg.Warnings() {
		log.Warn().Msg(warning)
	}
	if info, err := os.Stat(configPath); err == nil && info.Mode().Perm()&0o077 != 0 {
		// The file holds the appservice tokens (and maybe the provisioning secret).
		log.Warn().Str("path", configPath).Str("mode", fmt.Sprintf("%04o", info.Mode().Perm())).
			Msg("The config file holds the bridge's tokens and other users can read it: chmod 600 it")
	}
	if len(cfg.FromEnv) > 0 {
		// Names only: the values may be secrets.
		log.Info().Strs("options", cfg.FromEnv).Msg("Config options set from the environment")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = log.WithContext(ctx)

	db, err := database.Open(ctx, cfg.Database.Type, cfg.Database.URI, cfg.Database.MaxOpenConns, cfg.Database.MaxIdleConns, log)
	if err != nil {
		log.Err(err).Msg("Failed to open database")
		return 1
	}
	defer db.Close()
	if err = db.Upgrade(ctx); err != nil {
		log.Err(err).Msg("Failed to upgrade database schema")
		return 1
	}
	br, err := bridge.New(cfg, db, log)
	if err != nil {
		log.Err(err).Msg("Failed to set up bridge")
		return 1
	}
	if err = br.Start(ctx); err != nil {
		br.Stop()
		if ctx.Err() != nil {
			log.Info().Msg("Stopped by a signal during start-up")
			return 0
		}
		log.Err(err).Msg("Failed to start bridge")
		return 1
	}
	<-ctx.Done()
	stop()
	log.Info().Msg("Received signal, shutting down (send it again to exit at once)")
	done := make(chan struct{})
	go func() {
		br.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(9 * time.Second):
		log.Warn().Msg("Shutdown took too long, exiting anyway")
		return 1
	}
	return 0
}
