// Package e2e runs the bridge the way it runs in production, for end-to-end tests: a private Dendrite
// homeserver and the matrix-whatsapp binary (built with the race detector when the tests are) as real processes on
// loopback ports, with a fresh database per test, driven through mautrix-go Matrix clients.
//
// Every test gets its own homeserver, ports, bridge database and temporary folder, so tests run in
// parallel. The logs of both processes are files in the test's folder; when a test fails their last
// lines are printed with the test output. The bridge must exit cleanly (status 0) within
// BridgeStopGrace of SIGTERM; a bridge that crashes or hangs on shutdown fails the test.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// logTailLines is how many lines of each log a failed test prints.
const logTailLines = 100

// LogDirEnv names a directory that a failed test's whole process logs are copied into (as
// <test>.<log name>), for reading past the last logTailLines; unset: not copied.
const LogDirEnv = "E2E_LOG_DIR"

// Options choose what an Env runs. The zero value runs Dendrite and the bridge on SQLite.
type Options struct {
	// Database is the bridge's database engine: testdb.SQLite (the default) or testdb.Postgres.
	Database testdb.Dialect
	// NoBridge starts only the homeserver (for tests of the environment itself, or of Matrix alone).
	NoBridge bool
	// PersistentJetStream keeps Dendrite's event stream on disk, so that appservice events not yet
	// delivered survive RestartDendrite. Off, they are lost on a restart (the CI default).
	PersistentJetStream bool
	// Config, when set, may change the bridge config before the registration is generated, e.g.
	// SetConfig(cfg, "whatsapp.dial_address", addr).
	Config func(cfg map[string]any)
	// DoublePuppet sets bridge.double_puppet.as_token to "generate", so that the bridge's -g writes
	// the double puppeting registration and stores its token, and installs that registration in
	// Dendrite.
	DoublePuppet bool
	// DendriteConfig, when set, may change Dendrite's config after the environment's own changes.
	DendriteConfig func(cfg map[string]any)
	// CountHomeserverRequests puts a counting reverse proxy between the bridge and the homeserver
	// (HomeserverRequests). The homeserver's pushes to the bridge do not pass through it.
	CountHomeserverRequests bool
	// TransactionGate puts a reverse proxy between the homeserver and the bridge's appservice port
	// (the registration's url points at it), through which a test can hold the homeserver's pushes
	// (HoldTransactions) and count them (TransactionsContaining).
	TransactionGate bool
}

// Env is one running test environment. Its methods fail the test they were created for, so call them
// from that test's goroutine.
type Env struct {
	t        testing.TB
	ctx      context.Context
	dir      string
	dialect  testdb.Dialect
	dbURI    string
	dendrite *dendrite
	bridge   *bridge
	counter  *requestCounter
	// sideProxy is HomeserverProxyURL's proxy, started on first use.
	sideProxy *requestCounter
	gate      *transactionGate
	// passwords are the passwords of the users NewUser registered, by user ID (Password); a
	// pointer, so that a copy of the Env shares it.
	passwords *sync.Map
}

// New starts a fresh environment for t: Dendrite on a free loopback port and, unless opts.NoBridge,
// the bridge with a registration listed in Dendrite's config. Everything is stopped when t ends.
//
// In short mode (go test -short, `make unit`) the test is skipped: it needs Dendrite and a bridge
// process, which `make test` provides.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	SkipInShortMode(t)
	e := &Env{t: t, ctx: context.Background(), dir: t.TempDir(), dialect: opts.Database, passwords: new(sync.Map)}
	if e.dialect == "" {
		e.dialect = testdb.SQLite
	}
	var registrations []string
	var bridgePort int
	if !opts.NoBridge {
		// The database comes first, so that it is dropped only after the bridge has stopped.
		e.dbURI = testdb.New(t, e.dialect)
		var err error
		if bridgePort, err = freePort(); err != nil {
			t.Fatalf("e2e: %v", err)
		}
		registrations = []string{filepath.Join(e.dir, "bridge", "registration.yaml")}
	}
	if opts.DoublePuppet && !opts.NoBridge {
		// Written by the bridge's -g (newBridge), before Dendrite first starts.
		registrations = append(registrations, config.DoublePuppetRegistrationPath(registrations[0]))
	}
	t.Cleanup(e.cleanup)

	var err error
	e.dendrite, err = newDendrite(e.ctx, e.dir, Domain, registrations, opts.PersistentJetStream, opts.DendriteConfig)
	if err != nil {
		t.Fatalf("e2e: failed to set up Dendrite: %v", err)
	}
	if !opts.NoBridge {
		cfg := bridgeConfig(e.dendrite.url(), bridgePort, e.dialect, e.dbURI)
		if opts.DoublePuppet {
			SetConfig(cfg, "bridge.double_puppet.as_token", config.Placeholder)
		}
		if opts.TransactionGate {
			if e.gate, err = newTransactionGate("http://127.0.0.1:" + strconv.Itoa(bridgePort)); err != nil {
				t.Fatalf("e2e: %v", err)
			}
			SetConfig(cfg, "appservice.address", e.gate.url())
		}
		if opts.Config != nil {
			opts.Config(cfg)
		}
		if e.bridge, err = newBridge(e.ctx, e.dir, bridgePort, cfg); err != nil {
			t.Fatalf("e2e: failed to set up the bridge: %v", err)
		}
	}
	if err = e.dendrite.start(e.ctx, true); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if e.bridge != nil {
		hsURL := e.dendrite.url()
		if opts.CountHomeserverRequests {
			if e.counter, err = newRequestCounter(e.dendrite.url); err != nil {
				t.Fatalf("e2e: %v", err)
			}
			hsURL = e.counter.url()
		}
		// Dendrite moves to another port when its first one was taken meanwhile.
		e.UpdateBridgeConfig(func(cfg map[string]any) {
			SetConfig(cfg, "homeserver.address", hsURL)
		})
		if err = e.bridge.start(e.ctx); err != nil {
			t.Fatalf("e2e: %v", err)
		}
	}
	return e
}

// cleanup stops the bridge, then Dendrite, and prints the logs when the test failed.
func (e *Env) cleanup() {
	if e.bridge != nil {
		if err := e.bridge.proc.unexpectedExit(); err != nil {
			e.t.Errorf("e2e: %v", err)
			e.bridge.proc = nil
		} else if err = e.bridge.stop(); err != nil {
			e.t.Errorf("e2e: %v", err)
		}
	}
	if e.counter != nil {
		e.counter.close()
	}
	if e.sideProxy != nil {
		e.sideProxy.close()
	}
	if e.gate != nil {
		e.gate.close()
	}
	if e.dendrite != nil {
		if err := e.dendrite.proc.unexpectedExit(); err != nil {
			e.t.Errorf("e2e: %v", err)
		} else if err = e.dendrite.stop(); err != nil {
			e.t.Errorf("e2e: %v", err)
		}
	}
	if e.t.Failed() {
		e.dumpLogs()
	}
}

// dumpLogs prints the last lines of the logs of the processes that were started.
func (e *Env) dumpLogs() {
	var logs []string
	if e.dendrite != nil {
		logs = append(logs, e.dendrite.logPath)
	}
	if e.bridge != nil {
		logs = append(logs, e.bridge.logPath)
	}
	for _, path := range logs {
		if _, err := os.Stat(path); err == nil {
			e.t.Logf("e2e: last %d lines of %s:\n%s", logTailLines, path, TailFile(path, logTailLines))
			if dir := os.Getenv(LogDirEnv); dir != "" {
				name := strings.NewReplacer("/", "_", " ", "_").Replace(e.t.Name()) + "." + filepath.Base(path)
				if data, err := os.ReadFile(path); err != nil {
					e.t.Logf("e2e: failed to read %s: %v", path, err)
				} else if err = os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					e.t.Logf("e2e: failed to copy %s to %s: %v", path, dir, err)
				}
			}
			if races := raceReports(path); races != "" {
				e.t.Logf("e2e: race detector reports in %s:\n%s", path, races)
			}
		}
	}
}

// raceReports returns the race detector's reports in a log, which the tail may not reach.
func raceReports(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out strings.Builder
	inReport := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "WARNING: DATA RACE") {
			inReport = true
		}
		if inReport {
			out.WriteString(line)
			out.WriteByte('\n')
			if strings.HasPrefix(line, "==================") && out.Len() > 20 {
				inReport = false
			}
		}
	}
	return out.String()
}

// processProblems describes processes that ended without being asked to, for failure messages.
func (e *Env) processProblems() string {
	var msg string
	if e.bridge != nil {
		if err := e.bridge.proc.unexpectedExit(); err != nil {
			msg += " (" + err.Error() + ")"
		}
	}
	if e.dendrite != nil {
		if err := e.dendrite.proc.unexpectedExit(); err != nil {
			msg += " (" + err.Error() + ")"
		}
	}
	return msg
}

// StopBridge stops the bridge with SIGTERM; the test fails unless it exits cleanly within
// BridgeStopGrace.
func (e *Env) StopBridge() {
	e.t.Helper()
	e.requireBridge()
	if err := e.bridge.stop(); err != nil {
		e.t.Errorf("e2e: %v", err)
	}
}

// KillBridge ends the bridge with SIGKILL, without a chance to shut down, as a crash would.
func (e *Env) KillBridge() {
	e.t.Helper()
	e.requireBridge()
	e.bridge.kill()
}

// StartBridge starts the stopped bridge again with the same config and database, and waits until it
// is ready.
func (e *Env) StartBridge() {
	e.t.Helper()
	e.StartBridgeDuring(nil)
}

// StartBridgeDuring starts the stopped bridge again like StartBridge, but runs during (when not
// nil, on the test's goroutine) after the process started and before waiting for it to be ready:
// e.g. to bring back a homeserver the bridge found down while starting.
func (e *Env) StartBridgeDuring(during func()) {
	e.t.Helper()
	e.requireBridge()
	if e.bridge.proc != nil {
		err := e.bridge.proc.unexpectedExit()
		if err == nil {
			e.t.Fatalf("e2e: StartBridge called while the bridge runs")
		}
		e.t.Errorf("e2e: %v", err)
		e.bridge.proc = nil
	}
	if err := e.bridge.launch(); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
	if during != nil {
		during()
	}
	if err := e.bridge.waitReady(e.ctx); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
}

// RestartBridge stops the bridge cleanly and starts it again.
func (e *Env) RestartBridge() {
	e.t.Helper()
	e.StopBridge()
	e.StartBridge()
}

// UpdateBridgeConfig changes the bridge's config file (as the bridge last wrote it); the change takes
// effect at the next StartBridge or RestartBridge.
func (e *Env) UpdateBridgeConfig(update func(cfg map[string]any)) {
	e.t.Helper()
	e.requireBridge()
	cfg, err := e.bridge.readConfig()
	if err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
	update(cfg)
	if err = writeYAML(e.bridge.configPath, cfg); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
}

// StopDendrite stops the homeserver; StartDendrite brings it back on the same port and data.
func (e *Env) StopDendrite() {
	e.t.Helper()
	if err := e.dendrite.stop(); err != nil {
		e.t.Errorf("e2e: %v", err)
	}
}

// StartDendrite starts the stopped homeserver again and waits until it answers.
func (e *Env) StartDendrite() {
	e.t.Helper()
	if ended, _ := e.dendrite.proc.exited(); !ended {
		e.t.Fatalf("e2e: StartDendrite called while Dendrite runs")
	}
	if err := e.dendrite.start(e.ctx, false); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
}

// RestartDendrite stops the homeserver and starts it again on the same port and data. Undelivered
// appservice events survive only with Options.PersistentJetStream.
func (e *Env) RestartDendrite() {
	e.t.Helper()
	e.StopDendrite()
	e.StartDendrite()
}

func (e *Env) requireBridge() {
	e.t.Helper()
	if e.bridge == nil {
		e.t.Fatalf("e2e: this environment runs without the bridge (Options.NoBridge)")
	}
}

// HomeserverRequests returns the requests the bridge made to the homeserver so far, by kind. The
// environment must have been made with Options.CountHomeserverRequests.
func (e *Env) HomeserverRequests() RequestCounts {
	e.t.Helper()
	return e.requestCounter().snapshot()
}

// HomeserverConnections returns how many TCP connections the bridge opened to the homeserver so
// far. The environment must have been made with Options.CountHomeserverRequests.
func (e *Env) HomeserverConnections() int64 {
	e.t.Helper()
	return e.requestCounter().opened.Load()
}

// requestCounter returns the proxy counting the bridge's homeserver requests, failing the test when
// the environment was made without Options.CountHomeserverRequests.
func (e *Env) requestCounter() *requestCounter {
	e.t.Helper()
	if e.counter == nil {
		e.t.Fatalf("e2e: this environment does not count homeserver requests (Options.CountHomeserverRequests)")
	}
	return e.counter
}

// ObserveHomeserverRequests calls observe with every PUT request (sends, state events, profile
// changes) the bridge makes to the homeserver from now on, as the counting proxy receives it, on the
// request's goroutine; nil stops it. It needs Options.CountHomeserverRequests.
func (e *Env) ObserveHomeserverRequests(observe func(HomeserverRequest)) {
	e.t.Helper()
	c := e.requestCounter()
	if observe == nil {
		c.observe.Store(nil)
		return
	}
	c.observe.Store(&observe)
}

// HomeserverProxyURL returns the address of a reverse proxy to the homeserver of the same kind as
// the one Options.CountHomeserverRequests puts between the bridge and the homeserver, whose
// requests are not counted: clients that a benchmark compares with the bridge (a ceiling's
// senders) go through it, so that both pay the same extra hop. It is started on first use; call it
// from the test's goroutine.
func (e *Env) HomeserverProxyURL() string {
	e.t.Helper()
	if e.sideProxy == nil {
		proxy, err := newRequestCounter(e.dendrite.url)
		if err != nil {
			e.t.Fatalf("e2e: %v", err)
		}
		e.sideProxy = proxy
	}
	return e.sideProxy.url()
}

// BridgePID returns the process ID of the running bridge (0 when it is stopped), for reading its
// CPU time and memory from /proc.
func (e *Env) BridgePID() int {
	e.requireBridge()
	if e.bridge.proc == nil {
		return 0
	}
	return e.bridge.proc.cmd.Process.Pid
}

// DendritePID returns the process ID of the running homeserver.
func (e *Env) DendritePID() int {
	if e.dendrite.proc == nil {
		return 0
	}
	return e.dendrite.proc.cmd.Process.Pid
}

// LaunchBridge starts the stopped bridge without waiting for it; WaitBridgeReady waits. Together
// they let a benchmark time the start-up.
func (e *Env) LaunchBridge() {
	e.t.Helper()
	e.requireBridge()
	if err := e.bridge.launch(); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
}

// WaitBridgeReady waits until the launched bridge answers ready (start-up complete, stored logins
// reconnected) and fails the test when it does not in time.
func (e *Env) WaitBridgeReady() {
	e.t.Helper()
	e.requireBridge()
	if err := e.bridge.waitReady(e.ctx); err != nil {
		e.t.Fatalf("e2e: %v", err)
	}
}

// Domain returns the homeserver's server name.
func (e *Env) Domain() string { return Domain }

// HomeserverURL returns the client-server API base URL of Dendrite.
func (e *Env) HomeserverURL() string { return e.dendrite.url() }

// BotMXID returns the Matrix ID of the bridge bot, as named by the registration.
func (e *Env) BotMXID() id.UserID {
	localpart := BotLocalpart
	if e.bridge != nil {
		localpart = e.bridge.senderLocalpart
	}
	return id.NewUserID(localpart, Domain)
}

// ASToken returns the appservice token (the bridge's credential towards the homeserver).
func (e *Env) ASToken() string { e.requireBridge(); return e.bridge.asToken }

// HSToken returns the homeserver token (what the homeserver presents to the bridge).
func (e *Env) HSToken() string { e.requireBridge(); return e.bridge.hsToken }

// BridgeURL returns the base URL of the bridge's appservice HTTP server.
func (e *Env) BridgeURL() string { e.requireBridge(); return e.bridge.url() }

// BridgeLogPath returns the path of the bridge's log file (stdout and stderr, all runs appended).
func (e *Env) BridgeLogPath() string { e.requireBridge(); return e.bridge.logPath }

// BridgeConfigPath returns the path of the bridge's config file.
func (e *Env) BridgeConfigPath() string { e.requireBridge(); return e.bridge.configPath }

// DendriteLogPath returns the path of Dendrite's log file.
func (e *Env) DendriteLogPath() string { return e.dendrite.logPath }

// DatabaseURI returns the bridge database's URI (a file path for SQLite).
func (e *Env) DatabaseURI() string { return e.dbURI }

// DatabaseDialect returns the bridge database's engine.
func (e *Env) DatabaseDialect() testdb.Dialect { return e.dialect }

// Dir returns the environment's temporary folder.
func (e *Env) Dir() string { return e.dir }

// String describes the environment for test messages.
func (e *Env) String() string {
	return fmt.Sprintf("e2e env in %s (homeserver %s)", e.dir, e.dendrite.url())
}

// SkipInShortMode skips tb under go test -short: end-to-end tests start Dendrite and the bridge
// binary, which `make unit` (the quick suite without PostgreSQL or Dendrite) leaves out. `make test`
// runs them.
func SkipInShortMode(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end test: needs Dendrite and the bridge binary; run by make test, not with -short")
	}
}
