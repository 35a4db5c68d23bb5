package whatsapp

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

// TestConnectionLossIsAWarning: whatsmeow's socket read error when the server closes the
// connection is logged as a warning, in its sublogger too; other errors stay errors.
func TestConnectionLossIsAWarning(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newWALogger(zerolog.New(&buf))
	log.Sub("Client").Sub("Socket").Errorf("Error reading from websocket: %v", io.EOF)
	log.Errorf("Failed to send retry receipt: %v", io.ErrUnexpectedEOF)
	var levels []string
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var entry struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(line, &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		levels = append(levels, entry.Level+": "+entry.Message)
	}
	want := []string{"warn: Error reading from websocket: EOF", "error: Failed to send retry receipt: unexpected EOF"}
	if len(levels) != 2 || levels[0] != want[0] || levels[1] != want[1] {
		t.Errorf("logged %q, want %q", levels, want)
	}
}
