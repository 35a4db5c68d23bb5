package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// Version and commit the test stamps into the binary through the Dockerfile's -ldflags.
const (
	testVersion = "v0.0.0-imagetest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// dockerfileBuild returns the build tags and -ldflags of the Dockerfile's build step, with the
// test's version and commit for its build arguments, so that the test builds exactly what the
// image holds.
func dockerfileBuild() (tags, ldflags string, err error) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		return "", "", err
	}
	m := regexp.MustCompile(`CGO_ENABLED=0 go build -tags (goolm\S*) -trimpath \\\s*-ldflags "([^"]+)"`).FindSubmatch(data)
	if m == nil {
		return "", "", errors.New("the Dockerfile has no `CGO_ENABLED=0 go build -tags goolm... -trimpath -ldflags \"...\"` step")
	}
	return string(m[1]), strings.NewReplacer("${VERSION}", testVersion, "${COMMIT}", testCommit).Replace(string(m[2])), nil
}

// staticBinary builds the bridge as the container image does (CGO_ENABLED=0, the Dockerfile's
// build tags, -trimpath and -ldflags) into a temporary folder, once per test run, and returns its path.
func staticBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "matrix-whatsapp-static-"); buildErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		var tags, ldflags string
		if tags, ldflags, buildErr = dockerfileBuild(); buildErr != nil {
			return
		}
		cmd := exec.Command(goBin, "build", "-tags", tags, "-trimpath", "-ldflags", ldflags,
			"-o", filepath.Join(buildDir, "matrix-whatsapp"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("static build failed: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "matrix-whatsapp")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestStaticBinary checks the binary the container image holds: statically linked (no ELF
// interpreter, no shared libraries, so it runs on an image without a C library) and able to run.
func TestStaticBinary(t *testing.T) {
	bin := staticBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("binary asks for a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if want := "matrix-whatsapp " + testVersion + " (commit " + testCommit[:12] + ")\n"; err != nil || string(out) != want {
		t.Errorf("-version: %v, %q; want %q (the version and commit the image build stamps)", err, out, want)
	}
}

// TestEnvOverridesInTheBinary runs the binary with MATRIX_WHATSAPP_* variables: a good one reaches
// the registration it generates, a bad one stops it with exit status 2 naming the variable but not
// its value.
func TestEnvOverridesInTheBinary(t *testing.T) {
	bin := staticBinary(t)
	example, err := editedExample()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath, regPath := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "registration.yaml")
	if err = os.WriteFile(cfgPath, example, 0o600); err != nil {
		t.Fatal(err)
	}

	gen := exec.Command(bin, "-g", "-c", cfgPath, "-r", regPath)
	gen.Env = append(os.Environ(), "MATRIX_WHATSAPP_APPSERVICE_ADDRESS=http://bridge.internal:29318", "MATRIX_WHATSAPP_APPSERVICE_ID=wa-env")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("-g failed: %v\n%s", err, out)
	}
	reg, err := os.ReadFile(regPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(reg, []byte("http://bridge.internal:29318")) || !bytes.Contains(reg, []byte("id: wa-env")) {
		t.Errorf("registration does not carry the overridden options:\n%s", reg)
	}
	cfgAfter, _ := os.ReadFile(cfgPath)
	if bytes.Contains(cfgAfter, []byte("bridge.internal")) {
		t.Error("-g wrote an option from the environment into the config file")
	}

	const secret = "not-a-port-s3cret"
	run := exec.Command(bin, "-c", cfgPath, "-r", regPath)
	run.Env = append(os.Environ(), "MATRIX_WHATSAPP_APPSERVICE_PORT="+secret)
	out, err := run.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Fatalf("bad override: %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "MATRIX_WHATSAPP_APPSERVICE_PORT") || strings.Contains(string(out), secret) {
		t.Errorf("bad override output %q: want the variable named and its value left out", out)
	}
}

// editedExample returns the example config with its placeholder domain replaced, as a user edits it
// (homeserver.domain and the permission entries).
func editedExample() ([]byte, error) {
	example, err := os.ReadFile("../../example-config.yaml")
	return bytes.ReplaceAll(example, []byte("example.org"), []byte("chat.test.local")), err
}

// TestExampleConfigRefused: the example config left as it is (homeserver.domain example.org) is
// refused by -g and by a start, with exit status 2 naming the option, before anything is written.
func TestExampleConfigRefused(t *testing.T) {
	bin := staticBinary(t)
	example, err := os.ReadFile("../../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err = os.WriteFile(filepath.Join(dir, "config.yaml"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-g", "-c", "config.yaml", "-r", "registration.yaml"}, {"-c", "config.yaml"}} {
		run := exec.Command(bin, args...)
		run.Dir = dir
		out, err := run.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
			t.Fatalf("%v with the example config: %v, want exit status 2\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "homeserver.domain") || !strings.Contains(string(out), "placeholder") {
			t.Errorf("%v: output %q does not name homeserver.domain as the placeholder", args, out)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "config.yaml")); !bytes.Equal(after, example) {
			t.Errorf("%v changed the refused config", args)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%v: the refused run left files behind: %v", args, entries)
		}
	}
}

// TestStartWithoutTokens: the example config before -g is refused with what to run, before the
// bridge creates anything (no database file appears).
func TestStartWithoutTokens(t *testing.T) {
	bin := staticBinary(t)
	example, err := editedExample()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err = os.WriteFile(filepath.Join(dir, "config.yaml"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin, "-c", "config.yaml", "-r", "registration.yaml")
	run.Dir = dir
	out, err := run.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Fatalf("start without tokens: %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "as_token and hs_token are not set") || !strings.Contains(string(out), "-g -c config.yaml -r registration.yaml") {
		t.Errorf("output %q does not say to run -g", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the refused start left files behind: %v", entries)
	}
}

// TestGenerateDoublePuppetRegistration: with bridge.double_puppet.as_token "generate" the bridge
// refuses to start and says to run -g; -g then writes the double puppeting registration beside the
// bridge's and names both files to install.
func TestGenerateDoublePuppetRegistration(t *testing.T) {
	bin := staticBinary(t)
	dir := t.TempDir()
	example, err := editedExample()
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join(dir, "config.yaml"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"-c", "config.yaml", "-r", "registration.yaml"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := command("-g"); err != nil {
		t.Fatalf("-g: %v\n%s", err, out)
	} else if strings.Contains(out, "doublepuppet") {
		t.Errorf("-g without double puppeting mentions it: %q", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const off = "double_puppet:\n        # as_token of that second registration"
	if !strings.Contains(string(data), off) {
		t.Fatalf("config written by -g has no double_puppet section as expected:\n%s", data)
	}
	data = []byte(regexp.MustCompile(`(double_puppet:\n(?:\s*#.*\n)*\s*as_token: )""`).ReplaceAllString(string(data), "${1}generate"))
	if err = os.WriteFile(filepath.Join(dir, "config.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := command()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Fatalf("start with double_puppet.as_token generate: %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(out, "bridge.double_puppet.as_token") || !strings.Contains(out, "-g -c config.yaml -r registration.yaml") {
		t.Errorf("output %q does not say to run -g for double puppeting", out)
	}
	if out, err = command("-g"); err != nil {
		t.Fatalf("-g: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Add registration.yaml and doublepuppet-registration.yaml to your homeserver") {
		t.Errorf("-g output %q does not name both registrations to install", out)
	}
	if _, err = os.Stat(filepath.Join(dir, "doublepuppet-registration.yaml")); err != nil {
		t.Errorf("no double puppeting registration: %v", err)
	}
}

// TestConfigUpgradeInTheBinary: the binary upgrades a config of the previous version before it
// uses it (here with -g): new options with their comments, the user's comments and values kept,
// the original saved as config.yaml.bak.
func TestConfigUpgradeInTheBinary(t *testing.T) {
	bin := staticBinary(t)
	old, err := os.ReadFile("../../config/testdata/config-v1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err = os.WriteFile(cfgPath, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-g", "-c", cfgPath, "-r", filepath.Join(dir, "registration.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("-g with an old config failed: %v\n%s", err, out)
	}
	upgraded, _ := os.ReadFile(cfgPath)
	for _, want := range []string{"config_version: 2", "# Our homeserver runs in the same pod.\n    address: http://synapse:8008",
		"# URL to POST the state of every user's WhatsApp login to", "domain: chat.example.net # production"} {
		if !bytes.Contains(upgraded, []byte(want)) {
			t.Errorf("upgraded config lacks %q:\n%s", want, upgraded)
		}
	}
	if backup, err := os.ReadFile(cfgPath + ".bak"); err != nil || !bytes.Equal(backup, old) {
		t.Errorf("backup: %v, equal to the original %v", err, bytes.Equal(backup, old))
	}
}
