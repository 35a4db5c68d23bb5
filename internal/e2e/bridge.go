package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	// BridgeStopGrace is how long the bridge may take to shut down after SIGTERM (its contract).
	BridgeStopGrace  = 10 * time.Second
	bridgeReadyWait  = 90 * time.Second
	generateDeadline = 60 * time.Second
)

// bridge is the matrix-whatsapp process under test, with its config and registration files.
type bridge struct {
	bin              string
	dir              string
	configPath       string
	registrationPath string
	logPath          string
	port             int
	// address is where the homeserver reaches the bridge (appservice.address): its port, or a
	// transaction gate in front of it.
	address         string
	asToken         string
	hsToken         string
	senderLocalpart string
	proc            *process
}

// newBridge writes cfg as the bridge's config into dir/bridge and runs `-g` to generate the
// registration, which also stores the tokens in the config.
func newBridge(ctx context.Context, dir string, port int, cfg map[string]any) (*bridge, error) {
	bin, err := BridgeBinary()
	if err != nil {
		return nil, err
	}
	b := &bridge{
		bin:     bin,
		dir:     filepath.Join(dir, "bridge"),
		logPath: filepath.Join(dir, "bridge.log"),
		port:    port,
	}
	b.address, _ = GetConfig(cfg, "appservice.address").(string)
	b.configPath = filepath.Join(b.dir, "config.yaml")
	b.registrationPath = filepath.Join(b.dir, "registration.yaml")
	if err = os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create bridge folder: %w", err)
	}
	if err = writeYAML(b.configPath, cfg); err != nil {
		return nil, err
	}
	if err = b.generate(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// generate runs `matrix-whatsapp -c config.yaml -r registration.yaml -g` and checks its results.
func (b *bridge) generate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, generateDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, "-c", b.configPath, "-r", b.registrationPath, "-g")
	cmd.Dir = b.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to generate the registration (matrix-whatsapp -g): %w\n%s", err, out)
	}
	var reg map[string]any
	if err := readYAML(b.registrationPath, &reg); err != nil {
		return fmt.Errorf("matrix-whatsapp -g wrote no usable registration: %w", err)
	}
	var err error
	if b.asToken, err = configString(reg, "as_token"); err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	if b.hsToken, err = configString(reg, "hs_token"); err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	if b.senderLocalpart, err = configString(reg, "sender_localpart"); err != nil {
		return fmt.Errorf("registration: %w", err)
	}
	if regURL, _ := reg["url"].(string); regURL != b.url() {
		return fmt.Errorf("registration url is %q, want %q", regURL, b.url())
	}
	cfg, err := b.readConfig()
	if err != nil {
		return err
	}
	if GetConfig(cfg, "appservice.as_token") != b.asToken || GetConfig(cfg, "appservice.hs_token") != b.hsToken {
		return fmt.Errorf("matrix-whatsapp -g did not store the registration's tokens in %s", b.configPath)
	}
	return nil
}

// url is where the homeserver reaches the bridge.
func (b *bridge) url() string {
	if b.address != "" {
		return b.address
	}
	return "http://127.0.0.1:" + strconv.Itoa(b.port)
}

func (b *bridge) readConfig() (map[string]any, error) {
	var cfg map[string]any
	if err := readYAML(b.configPath, &cfg); err != nil {
		return nil, fmt.Errorf("failed to read bridge config: %w", err)
	}
	return cfg, nil
}

// start launches the bridge and waits until it is ready: its /_matrix/mau/ready answers 200 once
// start-up (bot registration, reconnecting the stored logins) is complete.
func (b *bridge) start(ctx context.Context) error {
	if err := b.launch(); err != nil {
		return err
	}
	return b.waitReady(ctx)
}

// launch starts the bridge process without waiting for it.
func (b *bridge) launch() error {
	proc, err := startProcess("the bridge", b.dir, b.logPath, b.bin, "-c", b.configPath, "-r", b.registrationPath)
	if err != nil {
		return err
	}
	b.proc = proc
	return nil
}

// waitReady waits until the launched bridge answers ready, and stops it when it does not in time. It
// asks every 10 ms, so that a benchmark timing the start-up reads it to about that.
func (b *bridge) waitReady(ctx context.Context) error {
	proc := b.proc
	ctx, cancel := context.WithTimeout(ctx, bridgeReadyWait)
	defer cancel()
	err := pollUntil(ctx, 10*time.Millisecond, func() (bool, error) {
		if ended, exitErr := proc.exited(); ended {
			return false, fmt.Errorf("the bridge exited during start-up: %v", exitErr)
		}
		return httpStatus(ctx, b.url()+"/_matrix/mau/ready") == http.StatusOK, nil
	})
	if err != nil {
		_ = proc.stop(BridgeStopGrace)
		return fmt.Errorf("the bridge did not become ready at %s: %w\nlast lines of its log:\n%s", b.url(), err, TailFile(b.logPath, 30))
	}
	return nil
}

// stop sends SIGTERM and expects a clean exit (status 0) within BridgeStopGrace.
func (b *bridge) stop() error {
	if b.proc == nil {
		return nil
	}
	proc := b.proc
	b.proc = nil
	if err := proc.stop(BridgeStopGrace); err != nil {
		return fmt.Errorf("the bridge did not shut down cleanly: %w", err)
	}
	return nil
}

// kill ends the bridge with SIGKILL, as a crash or power loss would.
func (b *bridge) kill() {
	if b.proc == nil {
		return
	}
	proc := b.proc
	b.proc = nil
	proc.stateLock.Lock()
	proc.stopping = true
	proc.stateLock.Unlock()
	_ = proc.cmd.Process.Kill()
	<-proc.done
}

func readYAML(path string, out any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err = yaml.Unmarshal(data, out); err != nil {
		return fmt.Errorf("failed to parse %s: %w", filepath.Base(path), err)
	}
	return nil
}

func writeYAML(path string, value any) error {
	data, err := yaml.Marshal(value)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", filepath.Base(path), err)
	}
	if err = os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("failed to write %s: %w", filepath.Base(path), err)
	}
	return nil
}
