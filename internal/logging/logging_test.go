package logging

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// TestLogFileOwnerOnly: a new log file is created 0600, and one that exists with wider permissions
// is narrowed to 0600 before anything is written to it.
func TestLogFileOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.log")
	if err := os.WriteFile(existing, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "new.log"), existing} {
		log, closer, err := New(config.LoggingConfig{Level: "info", File: path})
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Msg("hello")
		_ = closer.Close()
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(path), mode)
		}
	}
}
