// Command wasim runs the WhatsApp wire simulator as a standalone server for the demo and for
// manual testing. It prints what a client needs (address, Noise root public key, CA file) and runs
// until interrupted.
//
// With -demo-homeserver it also plays the demo scenario (package internal/demo): it creates a
// simulated phone with the contacts Echo Bot, Alice and Bob, links the phone to the demo Matrix user
// through the bridge by scanning the QR code the bridge posts, and keeps the Echo Bot answering.
//
// -print-root-key prints the Noise root public key (creating -root-key-file if needed) and exits, so
// that a script can write the bridge config before the simulator runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (plain HTTP and TLS on one port)")
	rootKeyFile := flag.String("root-key-file", "", "file holding the hex root private key; created if missing (default: a new key each run)")
	printRootKey := flag.Bool("print-root-key", false, "print the root public key (hex) of -root-key-file, creating the file if needed, and exit")
	caOut := flag.String("ca-out", "", "write the TLS CA certificate (PEM) to this file")
	dataDir := flag.String("data-dir", "", "directory for simulated phones' stores (default: temporary)")
	logLevel := flag.String("log-level", "info", "log level (debug, info, warn, error)")
	lenientPresence := flag.Bool("lenient-presence", false, "forward typing between any online devices and stamp the account's name on every message, whatever the devices announced (WhatsApp's strict rules are the default)")
	controlAddr := flag.String("control-addr", "", "also serve the HTTP/JSON control API on this address (it is always on the main port under /_wasim/)")
	var demoFlags demoOptions
	demoFlags.register(flag.CommandLine)
	flag.Parse()

	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid -log-level:", err)
		os.Exit(2)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: demoFlags.enabled()}).Level(level).With().Timestamp().Logger()

	key, err := loadRootKey(*rootKeyFile)
	if err != nil {
		log.Fatal().Err(err).Msg("Failed to load root key")
	}
	if *printRootKey {
		fmt.Println(rootPublicKeyHex(key))
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := wasim.New(ctx, wasim.Options{Addr: *addr, RootKey: &key, Log: &log, DataDir: *dataDir, LenientPresence: *lenientPresence})
	if err != nil {
		log.Fatal().Err(err).Msg("Failed to start simulator")
	}
	if *caOut != "" {
		if err = os.WriteFile(*caOut, srv.CAPEM(), 0o644); err != nil {
			log.Fatal().Err(err).Msg("Failed to write CA certificate")
		}
	}
	log.Info().Str("addr", srv.Addr()).Str("root_pubkey", srv.RootPublicKeyHex()).Msg("Simulator listening")
	if *controlAddr != "" {
		go func() {
			log.Error().Err(http.ListenAndServe(*controlAddr, srv.ControlHandler())).Msg("Control API listener stopped")
		}()
	}

	exitCode := 0
	if demoFlags.enabled() {
		if err = runDemo(ctx, srv, demoFlags, log); err != nil {
			fmt.Fprintf(os.Stderr, "\nThe demo failed: %v\n", err)
			log.Error().Err(err).Msg("Demo failed")
			exitCode = 1
		}
	} else {
		fmt.Printf("addr=%s\nroot_pubkey=%s\n", srv.Addr(), srv.RootPublicKeyHex())
		fmt.Printf("control=http://%s%s\n", srv.Addr(), wasim.ControlPrefix)
		if *caOut != "" {
			fmt.Printf("ca_file=%s\n", *caOut)
		}
		<-ctx.Done()
	}

	log.Info().Msg("Shutting down")
	if err = srv.Close(); err != nil {
		log.Error().Err(err).Msg("Failed to close simulator")
	}
	os.Exit(exitCode)
}
