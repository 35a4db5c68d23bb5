package whatsapp

import (
	"encoding/hex"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/store"
	"google.golang.org/protobuf/proto"

	"matrix-whatsapp/config"
)

// Configure sets whatsmeow's process-wide settings from the config. whatsmeow keeps these in package
// variables, so this is the one place that writes them; cmd/matrix-whatsapp calls it once at
// startup, before any client exists:
//   - the device name and platform shown in the phone's "Linked devices" list;
//   - the root key of the server's Noise certificate chain, which only changes when the bridge talks
//     to a simulator (whatsapp.noise_root_pubkey).
func Configure(cfg config.WhatsAppConfig) error {
	store.DeviceProps.Os = proto.String(cfg.DeviceName)
	store.DeviceProps.PlatformType = waCompanionReg.DeviceProps_DESKTOP.Enum()
	if cfg.NoiseRootPubkey != "" {
		key, err := hex.DecodeString(cfg.NoiseRootPubkey)
		if err != nil || len(key) != len(whatsmeow.WACertPubKey) {
			return fmt.Errorf("whatsapp.noise_root_pubkey must be 64 hex characters")
		}
		copy(whatsmeow.WACertPubKey[:], key)
	}
	return nil
}
