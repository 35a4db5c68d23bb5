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

// dockerfileLDFlags returns the -ldflags of the Dockerfile's build step, with the test's version
// and commit for its build arguments, so that the test builds exactly what the image holds.
func dockerfileLDFlags() (string, error) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`CGO_ENABLED=0 go build -trimpath \\\s*-ldflags "([^"]+)"`).FindSubmatch(data)
	if m == nil {
		return "", errors.New("the Dockerfile has no `CGO_ENABLED=0 go build -trimpath -ldflags \"...\"` step")
	}
	return strings.NewReplacer("${VERSION}", testVersion, "${COMMIT}", testCommit).Replace(string(m[1])), nil
}

// staticBinary builds the bridge as the container image does (CGO_ENABLED=0, -trimpath, the
// Dockerfile's -ldflags) into a temporary folder, once per test run, and returns its path.
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
		var ldflags string
		if ldflags, buildErr = dockerfileLDFlags(); buildErr != nil {
			return
		}
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", ldflags,
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
	example, err := os.ReadFile("../../example-config.yaml")
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

// TestStartWithoutTokens: the example config before -g is refused with what to run, before the
// bridge creates anything (no database file appears).
func TestStartWithoutTokens(t *testing.T) {
	bin := staticBinary(t)
	example, err := os.ReadFile("../../example-config.yaml")
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
