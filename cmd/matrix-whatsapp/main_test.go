package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
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

// staticBinary builds the bridge as the container image does (CGO_ENABLED=0, -trimpath) into a
// temporary folder, once per test run, and returns its path.
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
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w",
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
	if err != nil || !strings.HasPrefix(string(out), "matrix-whatsapp v") {
		t.Errorf("-version: %v, %q", err, out)
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
