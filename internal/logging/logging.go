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

// TimeFormat is the format of the "time" field of JSON log lines: RFC 3339 in UTC or local time,
// with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func init() {
	// Times to the millisecond, so that what happened within one second keeps its order to a
	// reader (zerolog's default is whole seconds). Set once here: zerolog's setting is global.
	zerolog.TimeFieldFormat = TimeFormat
}

// consoleWriter returns what writes the log to out: JSON lines, or for the "pretty" format
// zerolog's console writer, coloured only when out is a terminal and NO_COLOR
// (https://no-color.org) is unset, so a log redirected to a file or a journal holds no escape
// codes.
func consoleWriter(format string, out *os.File) io.Writer {
	if format != "pretty" {
		return out
	}
	info, err := out.Stat()
	terminal := err == nil && info.Mode()&os.ModeCharDevice != 0
	_, noColor := os.LookupEnv("NO_COLOR")
	return zerolog.ConsoleWriter{Out: out, TimeFormat: time.StampMilli, NoColor: !terminal || noColor}
}

// New returns a logger writing to stderr (pretty or JSON) and, when cfg.File is set, JSON lines to that
// file, which is created or narrowed to mode 0600. The returned closer closes the file.
func New(cfg config.LoggingConfig) (zerolog.Logger, io.Closer, error) {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), nil, fmt.Errorf("logging.level: %w", err)
	}
	writers := []io.Writer{consoleWriter(cfg.Format, os.Stderr)}
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
