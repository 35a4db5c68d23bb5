package whatsapp

import (
	"fmt"

	"github.com/rs/zerolog"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// Logger adapts a zerolog logger to whatsmeow's logger interface.
func Logger(log zerolog.Logger) waLog.Logger {
	return zeroLogger{log: log}
}

type zeroLogger struct {
	log zerolog.Logger
}

func (z zeroLogger) Warnf(msg string, args ...any)  { z.log.Warn().Msg(fmt.Sprintf(msg, args...)) }
func (z zeroLogger) Errorf(msg string, args ...any) { z.log.Error().Msg(fmt.Sprintf(msg, args...)) }
func (z zeroLogger) Infof(msg string, args ...any)  { z.log.Info().Msg(fmt.Sprintf(msg, args...)) }
func (z zeroLogger) Debugf(msg string, args ...any) { z.log.Debug().Msg(fmt.Sprintf(msg, args...)) }
func (z zeroLogger) Sub(module string) waLog.Logger {
	return zeroLogger{log: z.log.With().Str("module", module).Logger()}
}
