// Package tesths builds the mautrix appservice handle that unit tests of the portal and puppet
// packages need for ghost registration, pointed at whatever homeserver the test serves (usually an
// httptest server answering only the requests the test expects).
//
// Keeping this here lets the portal package's tests use a real puppet.Manager while portal/ itself
// names the appservice package in one file only (its Matrix implementation).
package tesths

import (
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/appservice"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// AppService returns an appservice for cfg's registration (tokens, bot, namespaces) talking to
// cfg.Homeserver.Address as cfg.Homeserver.Domain. It fails tb when the config does not describe a
// usable appservice.
func AppService(tb testing.TB, cfg *config.Config, log zerolog.Logger) *appservice.AppService {
	tb.Helper()
	as, err := appservice.CreateFull(appservice.CreateOpts{
		Registration:     cfg.Registration(),
		HomeserverDomain: cfg.Homeserver.Domain,
		HomeserverURL:    cfg.Homeserver.Address,
	})
	if err != nil {
		tb.Fatalf("failed to create appservice: %v", err)
	}
	as.Log = log
	return as
}
