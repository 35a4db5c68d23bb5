package whatsapp

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	signallog "go.mau.fi/libsignal/logger"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/store"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/version"
)

// Configure sets whatsmeow's process-wide settings from the config. whatsmeow keeps these in package
// variables, so this is the one place that writes them; cmd/matrix-whatsapp calls it once at
// startup, before any client exists:
//   - the device name and platform shown in the phone's "Linked devices" list, and the bridge's
//     version as the device's version (the device props' version and the user agent's OS version
//     WhatsApp receives at login), so that the account owner and WhatsApp see which release links;
//   - the root key of the server's Noise certificate chain, which only changes when the bridge talks
//     to a simulator (whatsapp.noise_root_pubkey);
//   - the keepalive timing (whatsapp.keepalive_interval), when set: pings every interval to 1.5x
//     interval, each answered within half the interval (whatsmeow's keepalive.go variables);
//   - libsignal's logger, which libsignal otherwise creates lazily on first use, a data race when two
//     logins start at once (and its default prints to stdout); until this runs, the quiet one that
//     importing the database package installs (internal/signallog) stands in.
func Configure(cfg config.WhatsAppConfig, log zerolog.Logger) error {
	signallog.Logger = signalLogger{log: log.With().Str("component", "libsignal").Logger()}
	store.SetOSInfo(cfg.DeviceName, versionNumbers(version.Get().Version))
	store.DeviceProps.PlatformType = waCompanionReg.DeviceProps_DESKTOP.Enum()
	if cfg.NoiseRootPubkey != "" {
		key, err := hex.DecodeString(cfg.NoiseRootPubkey)
		if err != nil || len(key) != len(whatsmeow.WACertPubKey) {
			return fmt.Errorf("whatsapp.noise_root_pubkey must be 64 hex characters")
		}
		copy(whatsmeow.WACertPubKey[:], key)
	}
	if cfg.KeepaliveInterval > 0 {
		interval := time.Duration(cfg.KeepaliveInterval) * time.Second
		whatsmeow.KeepAliveIntervalMin = interval
		whatsmeow.KeepAliveIntervalMax = interval + interval/2
		whatsmeow.KeepAliveResponseDeadline = interval / 2
	}
	return nil
}

// versionNumbers turns a version such as "v0.2.0", "v0.2.0-3-gabc1234-dirty" or "0.2" into its
// three release numbers; missing or unreadable parts are 0.
func versionNumbers(v string) [3]uint32 {
	var out [3]uint32
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	for i, part := range strings.SplitN(v, ".", 3) {
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			break
		}
		out[i] = uint32(n)
	}
	return out
}

// signalLogger sends libsignal's messages to zerolog; its chatter goes to trace and debug.
type signalLogger struct {
	log zerolog.Logger
}

func (l signalLogger) Debug(caller, message string) {
	l.log.Trace().Str("caller", caller).Msg(message)
}
func (l signalLogger) Info(caller, message string) { l.log.Debug().Str("caller", caller).Msg(message) }
func (l signalLogger) Warning(caller, message string) {
	l.log.Warn().Str("caller", caller).Msg(message)
}
func (l signalLogger) Error(caller, message string) {
	l.log.Error().Str("caller", caller).Msg(message)
}
func (l signalLogger) Configure(string) {}
