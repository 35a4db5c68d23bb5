// Command wasim runs the WhatsApp wire simulator as a standalone server for the demo and for
// manual testing. It prints what a client needs (address, Noise root public key, CA file) and runs
// until interrupted.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"matrix-whatsapp/wasim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (plain HTTP and TLS on one port)")
	rootKeyFile := flag.String("root-key-file", "", "file holding the hex root private key; created if missing (default: a new key each run)")
	caOut := flag.String("ca-out", "", "write the TLS CA certificate (PEM) to this file")
	dataDir := flag.String("data-dir", "", "directory for simulated phones' stores (default: temporary)")
	logLevel := flag.String("log-level", "info", "log level (debug, info, warn, error)")
	flag.Parse()

	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid -log-level:", err)
		os.Exit(2)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(level).With().Timestamp().Logger()

	key, err := loadRootKey(*rootKeyFile)
	if err != nil {
		log.Fatal().Err(err).Msg("Failed to load root key")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := wasim.New(ctx, wasim.Options{Addr: *addr, RootKey: &key, Log: &log, DataDir: *dataDir})
	if err != nil {
		log.Fatal().Err(err).Msg("Failed to start simulator")
	}
	if *caOut != "" {
		if err = os.WriteFile(*caOut, srv.CAPEM(), 0o644); err != nil {
			log.Fatal().Err(err).Msg("Failed to write CA certificate")
		}
	}
	fmt.Printf("addr=%s\nroot_pubkey=%s\n", srv.Addr(), srv.RootPublicKeyHex())
	if *caOut != "" {
		fmt.Printf("ca_file=%s\n", *caOut)
	}

	// Phase 2: the HTTP/JSON control API (create accounts and contacts, scan QR codes, send as a
	// contact or phone, read received events, faults) is started here, next to the simulator.

	<-ctx.Done()
	log.Info().Msg("Shutting down")
	if err = srv.Close(); err != nil {
		log.Error().Err(err).Msg("Failed to close simulator")
	}
}

// loadRootKey reads the root private key from path, or generates one (and stores it there when a
// path is given) so that clients configured with the public key keep working across restarts.
func loadRootKey(path string) ([32]byte, error) {
	var key [32]byte
	if path != "" {
		data, err := os.ReadFile(path)
		if err == nil {
			return wasim.ParseRootKey(strings.TrimSpace(string(data)))
		} else if !errors.Is(err, os.ErrNotExist) {
			return key, err
		}
	}
	if _, err := rand.Read(key[:]); err != nil {
		return key, err
	}
	if path != "" {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key[:])+"\n"), 0o600); err != nil {
			return key, err
		}
	}
	return key, nil
}
