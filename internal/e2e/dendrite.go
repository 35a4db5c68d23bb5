package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Dendrite's own databases are SQLite files in the test's data folder rather than PostgreSQL: every
// test gets a fresh homeserver with nothing to create or drop, start-up stays well under a second, and
// parallel tests do not compete for PostgreSQL connections (Dendrite opens up to 90 per instance and
// the server allows 100 in total). The bridge's own database is chosen per test (Options.Database).

const (
	dendriteReadyTimeout = 60 * time.Second
	dendriteStopGrace    = 10 * time.Second
	// maxUploadBytes lifts the CI config's 10 MiB upload limit so that large media can be bridged.
	maxUploadBytes = 256 << 20
)

// dendrite is one homeserver process with its data folder.
type dendrite struct {
	bin          string
	dir          string
	configPath   string
	logPath      string
	port         int
	sharedSecret string
	proc         *process
}

// newDendrite prepares a data folder under dir with keys and a config for domain, listing the given
// appservice registration files, and applies patch (which may be nil) to the config last.
func newDendrite(ctx context.Context, dir, domain string, registrations []string, persistentJetStream bool, patch func(map[string]any)) (*dendrite, error) {
	bin, err := EnsureDendrite()
	if err != nil {
		return nil, err
	}
	d := &dendrite{
		bin:          bin,
		dir:          filepath.Join(dir, "dendrite"),
		logPath:      filepath.Join(dir, "dendrite.log"),
		sharedSecret: randomHex(16),
	}
	d.configPath = filepath.Join(d.dir, "dendrite.yaml")
	if err = os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create Dendrite folder: %w", err)
	}
	if d.port, err = freePort(); err != nil {
		return nil, err
	}
	generated, err := d.run(ctx, "generate-config", "-ci", "-dir", d.dir, "-server", domain)
	if err != nil {
		return nil, err
	}
	if _, err = d.run(ctx, "generate-keys", "--private-key", "matrix_key.pem"); err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err = yaml.Unmarshal(generated, &cfg); err != nil {
		return nil, fmt.Errorf("failed to parse the generated Dendrite config: %w", err)
	}
	d.configure(cfg, domain, registrations, persistentJetStream)
	if patch != nil {
		patch(cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to encode Dendrite config: %w", err)
	}
	if err = os.WriteFile(d.configPath, out, 0o600); err != nil {
		return nil, fmt.Errorf("failed to write Dendrite config: %w", err)
	}
	return d, nil
}

// configure turns the CI config into a private single-server homeserver fit for bridging tests.
func (d *dendrite) configure(cfg map[string]any, domain string, registrations []string, persistentJetStream bool) {
	SetConfig(cfg, "global.server_name", domain)
	SetConfig(cfg, "global.disable_federation", true)
	SetConfig(cfg, "global.trusted_third_party_id_servers", []string{})
	SetConfig(cfg, "global.report_stats.enabled", false)
	SetConfig(cfg, "global.server_notices.enabled", false)
	SetConfig(cfg, "global.cache.max_size_estimated", 64<<20)
	// In memory, undelivered appservice events die with the process; tests that restart Dendrite
	// and expect delivery afterwards need the on-disk stream, as a real deployment has.
	SetConfig(cfg, "global.jetstream.in_memory", !persistentJetStream)
	SetConfig(cfg, "global.jetstream.storage_path", filepath.Join(d.dir, "jetstream"))
	if registrations == nil {
		registrations = []string{}
	}
	SetConfig(cfg, "app_service_api.config_files", registrations)
	SetConfig(cfg, "client_api.registration_disabled", true)
	SetConfig(cfg, "client_api.registration_shared_secret", d.sharedSecret)
	SetConfig(cfg, "client_api.guests_disabled", true)
	SetConfig(cfg, "client_api.rate_limiting.enabled", false)
	SetConfig(cfg, "media_api.max_file_size_bytes", maxUploadBytes)
	SetConfig(cfg, "sync_api.search.enabled", false)
	// Local presence (ghosts' presence set by the bridge) is only kept with presence enabled.
	SetConfig(cfg, "global.presence.enable_inbound", true)
	SetConfig(cfg, "global.presence.enable_outbound", true)
	SetConfig(cfg, "logging", []map[string]any{{"type": "std", "level": "info"}})
}

// run executes one of the Dendrite helper programs in the data folder and returns its stdout.
func (d *dendrite) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, name), args...)
	cmd.Dir = d.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("failed to run %s: %w\n%s", name, err, stderr.String())
	}
	return out, nil
}

// url is the client-server API base URL.
func (d *dendrite) url() string {
	return "http://127.0.0.1:" + strconv.Itoa(d.port)
}

// start launches the homeserver and waits until it answers /_matrix/client/versions. When the port
// was taken in the meantime and firstStart is set, it moves to another port.
func (d *dendrite) start(ctx context.Context, firstStart bool) error {
	for attempt := 0; ; attempt++ {
		err := d.startOnce(ctx)
		if err == nil || !firstStart || attempt >= 3 || !strings.Contains(TailFile(d.logPath, 20), "address already in use") {
			return err
		}
		if d.port, err = freePort(); err != nil {
			return err
		}
	}
}

func (d *dendrite) startOnce(ctx context.Context) error {
	proc, err := startProcess("Dendrite", d.dir, d.logPath, filepath.Join(d.bin, "dendrite"),
		"-config", d.configPath, "-http-bind-address", "127.0.0.1:"+strconv.Itoa(d.port))
	if err != nil {
		return err
	}
	d.proc = proc
	ctx, cancel := context.WithTimeout(ctx, dendriteReadyTimeout)
	defer cancel()
	err = pollUntil(ctx, 50*time.Millisecond, func() (bool, error) {
		if ended, exitErr := proc.exited(); ended {
			return false, fmt.Errorf("the homeserver exited during start-up: %v", exitErr)
		}
		return httpStatus(ctx, d.url()+"/_matrix/client/versions") == http.StatusOK, nil
	})
	if err != nil {
		_ = proc.stop(dendriteStopGrace)
		return fmt.Errorf("the homeserver did not become ready at %s: %w", d.url(), err)
	}
	return nil
}

// stop ends the homeserver. Dendrite may exit with a signal status, so only a forced kill is an error.
func (d *dendrite) stop() error {
	if d.proc == nil {
		return nil
	}
	err := d.proc.stop(dendriteStopGrace)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return nil
	}
	return err
}

// httpStatus performs a GET and returns the status code, or 0 when no answer came.
func httpStatus(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// pollUntil calls check every interval until it reports done, returns an error, or ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, check func() (bool, error)) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
