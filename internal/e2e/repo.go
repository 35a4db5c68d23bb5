package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// dendriteBinaries are the programs scripts/install-dendrite.sh puts into .cache/bin.
var dendriteBinaries = []string{"dendrite", "generate-keys", "generate-config", "create-account"}

// RepoRoot returns the root of the repository (the directory holding go.mod), found by walking up
// from the working directory, which `go test` sets to the package being tested.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to get working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BinDir returns the folder holding the Dendrite binaries (.cache/bin in the repository root).
func BinDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "bin"), nil
}

var (
	installOnce sync.Once
	installErr  error
)

// EnsureDendrite makes sure the Dendrite binaries exist, running scripts/install-dendrite.sh once per
// process when one is missing. It returns the folder holding them.
func EnsureDendrite() (string, error) {
	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	installOnce.Do(func() {
		if missingBinaries(bin) == nil {
			return
		}
		root := filepath.Dir(filepath.Dir(bin))
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "install-dendrite.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("failed to install Dendrite with scripts/install-dendrite.sh: %w\n%s", err, out)
			return
		}
		if missing := missingBinaries(bin); missing != nil {
			installErr = fmt.Errorf("scripts/install-dendrite.sh ran but %s is still missing:\n%s", strings.Join(missing, ", "), out)
		}
	})
	return bin, installErr
}

func missingBinaries(bin string) []string {
	var missing []string
	for _, name := range dendriteBinaries {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			missing = append(missing, name)
		}
	}
	return missing
}

// built holds one build per package path, each made once per test process.
var (
	builtLock sync.Mutex
	built     = make(map[string]*buildResult)
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// buildDirPrefix names the temporary folders the binaries under test are built into. The process ID follows
// it so that later runs can remove the folders of processes that have ended.
const buildDirPrefix = "matrix-whatsapp-e2e-"

// BridgeRaceEnv, set to 1 in the environment, builds the bridge under test with the race detector
// even when the test binary is built without it: `make test` runs the end-to-end tests so, the
// bridge race-checked and the test process (the WhatsApp simulator and the Matrix clients, whose
// own tests run with the race detector) at full speed.
// (Not MATRIX_WHATSAPP_*: the bridge reads those as config overrides and refuses unknown ones.)
const BridgeRaceEnv = "E2E_BRIDGE_RACE"

// BridgeBinary builds ./cmd/matrix-whatsapp once per test process and returns the path of the
// binary. It is built with the race detector when the test binary is (`go test -race`) or
// BridgeRaceEnv asks for it, and without it otherwise (`make bench`, so that figures are not those
// of a race build). When the build fails, every call returns the compiler output as the error.
func BridgeBinary() (string, error) {
	return Binary("./cmd/matrix-whatsapp")
}

// Binary builds the main package pkg (a path relative to the repository root, such as
// "./internal/e2e/wafloor") once per test process, as BridgeBinary builds the bridge (the same tags,
// with the race detector under the same conditions), and returns the path of the binary.
func Binary(pkg string) (string, error) {
	builtLock.Lock()
	b, ok := built[pkg]
	if !ok {
		b = &buildResult{}
		built[pkg] = b
	}
	builtLock.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkg) })
	return b.path, b.err
}

func build(pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	removeStaleOnce.Do(removeStaleBuilds)
	dir, err := os.MkdirTemp("", buildDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("failed to create build folder: %w", err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	start := time.Now()
	// goolm: the pure-Go Olm implementation, so the bridge under test supports encryption.
	args := []string{"build", "-tags", "goolm", "-o", out, pkg}
	if raceEnabled || os.Getenv(BridgeRaceEnv) == "1" {
		args = []string{"build", "-race", "-tags", "goolm", "-o", out, pkg}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("failed to build %s (go %s, %s): %w\n%s",
			pkg, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, output)
	}
	return out, nil
}

var removeStaleOnce sync.Once

// removeStaleBuilds deletes build folders left behind by test processes that no longer run (a test
// binary has no hook at exit, so each process cleans up after its predecessors).
func removeStaleBuilds() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, dir := range matches {
		rest := strings.TrimPrefix(filepath.Base(dir), buildDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
