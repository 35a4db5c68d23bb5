// Package logging builds the bridge's zerolog logger from the logging section of the config.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/matrix-whatsapp/matrix-whatsapp/config"
)

// New returns a logger writing to stderr (pretty or JSON) and, when cfg.File is set, JSON lines to that
// file, which is created or narrowed to mode 0600. The returned closer closes the file.
func New(cfg config.LoggingConfig) (zerolog.Logger, io.Closer, error) {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("logging.level: %w", err)
	}
	var console io.Writer = os.Stderr
	if cfg.Format == "pretty" {
		console = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.StampMilli}
	}
	writers := []io.Writer{console}
	var closer io.Closer = io.NopCloser(nil)
	if cfg.File != "" {
		f, err := os.OpenFile(cfg.File, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("logging.file: failed to open %s: %w", cfg.File, err)
		}
		// A log file made earlier (or by someone else) with wider permissions is narrowed too: at
		// debug level it holds message bodies.
		if err = f.Chmod(0o600); err != nil {
			_ = f.Close()
			return zerolog.Nop(), nil, fmt.Errorf("logging.file: failed to restrict %s to its owner: %w", cfg.File, err)
		}
		writers = append(writers, f)
		closer = f
	}
	log := zerolog.New(zerolog.MultiLevelWriter(writers...)).Level(level).With().Timestamp().Logger()
	return log, closer, nil
}
