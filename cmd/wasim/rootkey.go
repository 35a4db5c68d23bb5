package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"go.mau.fi/whatsmeow/util/keys"

	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

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

// rootPublicKeyHex is the public half of a root private key in hex, the form the bridge's
// whatsapp.noise_root_pubkey option takes.
func rootPublicKeyHex(private [32]byte) string {
	return hex.EncodeToString(keys.NewKeyPairFromPrivateKey(private).Pub[:])
}
