package wasim

import (
	"fmt"

	"github.com/rs/zerolog"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// zeroLogger adapts a zerolog.Logger to whatsmeow's printf-style waLog.Logger. Messages below the
// logger's level (warn for simulated clients) are discarded before formatting.
type zeroLogger struct {
	log    zerolog.Logger
	module string
}

// WALogger wraps log so that whatsmeow can write to it. The returned logger tags every line with
// the whatsmeow module that produced it.
func WALogger(log zerolog.Logger) waLog.Logger {
	return &zeroLogger{log: log}
}

func (z *zeroLogger) event(level zerolog.Level) *zerolog.Event {
	evt := z.log.WithLevel(level)
	if evt != nil && z.module != "" {
		evt = evt.Str("wa_module", z.module)
	}
	return evt
}

func (z *zeroLogger) Warnf(msg string, args ...any) {
	if evt := z.event(zerolog.WarnLevel); evt != nil {
		evt.Msg(fmt.Sprintf(msg, args...))
	}
}

func (z *zeroLogger) Errorf(msg string, args ...any) {
	if evt := z.event(zerolog.ErrorLevel); evt != nil {
		evt.Msg(fmt.Sprintf(msg, args...))
	}
}

func (z *zeroLogger) Infof(msg string, args ...any) {
	if evt := z.event(zerolog.InfoLevel); evt != nil {
		evt.Msg(fmt.Sprintf(msg, args...))
	}
}

func (z *zeroLogger) Debugf(msg string, args ...any) {
	if evt := z.event(zerolog.DebugLevel); evt != nil {
		evt.Msg(fmt.Sprintf(msg, args...))
	}
}

func (z *zeroLogger) Sub(module string) waLog.Logger {
	if z.module != "" {
		module = z.module + "/" + module
	}
	return &zeroLogger{log: z.log, module: module}
}
