package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// TestPrettyLogToAFileHasNoColours: the pretty format written to something that is not a terminal
// (a file, a pipe to a journal) carries no ANSI escape codes.
func TestPrettyLogToAFileHasNoColours(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := consoleWriter("pretty", f)
	if _, err = w.Write([]byte(`{"level":"warn","time":"2026-12-01T10:00:00.123Z","message":"hello"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "hello") || strings.Contains(string(data), "\x1b[") {
		t.Errorf("pretty log written to a file: %q, want the message without escape codes", data)
	}
}

// TestLogTimesHaveMilliseconds: JSON log lines carry their time to the millisecond.
func TestLogTimesHaveMilliseconds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.log")
	log, closer, err := New(config.LoggingConfig{Level: "info", Format: "json", File: path})
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("one")
	_ = closer.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Time string `json:"time"`
	}
	if err = json.Unmarshal(data, &line); err != nil {
		t.Fatalf("log line %q: %v", data, err)
	}
	if _, err = time.Parse("2006-01-02T15:04:05.000Z07:00", line.Time); err != nil {
		t.Errorf("time field %q has no milliseconds: %v", line.Time, err)
	}
}
