package e2e

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
)

// The matrix-js-sdk client (jsclient/client.mjs) and the npm packages it needs, pinned by
// jsclient/package-lock.json. EnsureJSClient installs them under .cache/jsclient with `npm ci`,
// once per lock file: later runs find the installed copy and start at once.
//
//go:embed jsclient/package.json jsclient/package-lock.json jsclient/client.mjs
var jsFiles embed.FS

// minNodeMajor is the oldest Node.js the pinned matrix-js-sdk supports (its engines field).
const minNodeMajor = 20

var (
	jsInstallOnce   sync.Once
	jsInstallScript string
	jsInstallErr    error
)

// EnsureJSClient installs the matrix-js-sdk client's packages when the installed copy is missing
// or was made from another lock file, and returns the path of the client script to run with node.
// It needs node (at least version 20) and npm on PATH; npm's download cache is .cache/npm.
func EnsureJSClient() (string, error) {
	jsInstallOnce.Do(func() {
		jsInstallScript, jsInstallErr = installJSClient()
	})
	return jsInstallScript, jsInstallErr
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.`)

func installJSClient() (string, error) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node is needed for the matrix-js-sdk client test: %w", err)
	}
	if m := nodeVersion.FindSubmatch(out); m == nil {
		return "", fmt.Errorf("cannot read the version of node from %q", out)
	} else if major, _ := strconv.Atoi(string(m[1])); major < minNodeMajor {
		return "", fmt.Errorf("node %s is too old for matrix-js-sdk, version %d or later is needed", out, minNodeMajor)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	pkg, _ := jsFiles.ReadFile("jsclient/package.json")
	lock, _ := jsFiles.ReadFile("jsclient/package-lock.json")
	script, _ := jsFiles.ReadFile("jsclient/client.mjs")
	sum := sha256.Sum256(append(append([]byte{}, pkg...), lock...))
	dir := filepath.Join(root, ".cache", "jsclient", hex.EncodeToString(sum[:8]))
	if _, err = os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, os.ErrNotExist) {
		if err = npmInstall(root, dir, pkg, lock); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	// The script sits beside node_modules, so that node resolves the packages from there; one
	// file per script version, written whole, so that concurrent test processes never see half.
	scriptSum := sha256.Sum256(script)
	scriptPath := filepath.Join(dir, "client-"+hex.EncodeToString(scriptSum[:8])+".mjs")
	if _, err = os.Stat(scriptPath); err == nil {
		return scriptPath, nil
	}
	tmp, err := os.CreateTemp(dir, "client-*.tmp")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(script)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), scriptPath)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("failed to write the js-sdk client script: %w", err)
	}
	return scriptPath, nil
}

// npmInstall runs `npm ci` for the lock file in a fresh folder and moves the result to dir, so
// that dir holds either nothing or a complete install.
func npmInstall(root, dir string, pkg, lock []byte) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err = os.WriteFile(filepath.Join(tmp, "package.json"), pkg, 0o644); err != nil {
		return err
	}
	if err = os.WriteFile(filepath.Join(tmp, "package-lock.json"), lock, 0o644); err != nil {
		return err
	}
	// --ignore-scripts: none of the pinned packages needs an install script.
	cmd := exec.Command("npm", "ci", "--cache", filepath.Join(root, ".cache", "npm"), "--prefer-offline",
		"--no-audit", "--no-fund", "--ignore-scripts", "--loglevel", "warn")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci for the matrix-js-sdk client failed: %w\n%s", err, out)
	}
	if err = os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr == nil {
			return nil // another test process installed it meanwhile
		}
		return fmt.Errorf("failed to move the js-sdk client install into place: %w", err)
	}
	return nil
}
