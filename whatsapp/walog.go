package whatsapp

import (
	"strings"

	"github.com/rs/zerolog"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// newWALogger is whatsmeow's logger for a login: waLog.Zerolog on log, with one message moved from
// error to warning level. whatsmeow logs "Error reading from websocket: …" (socket.FrameSocket's
// read pump) whenever the server closes the connection, an outage or a stream error included: a
// connection loss the bridge reports itself (the login's state, the reconnect) and recovers from,
// not a fault of the bridge, so it should not set off alerts on error lines.
func newWALogger(log zerolog.Logger) waLog.Logger {
	return connLossLogger{waLog.Zerolog(log)}
}

// connLossLogger is a waLog.Logger that logs whatsmeow's websocket read errors as warnings.
type connLossLogger struct{ waLog.Logger }

// Errorf implements waLog.Logger.
func (l connLossLogger) Errorf(msg string, args ...any) {
	if strings.HasPrefix(msg, "Error reading from websocket") {
		l.Warnf(msg, args...)
		return
	}
	l.Logger.Errorf(msg, args...)
}

// Sub implements waLog.Logger; the sublogger (whatsmeow's "Socket" is one) keeps the rule.
func (l connLossLogger) Sub(module string) waLog.Logger {
	return connLossLogger{l.Logger.Sub(module)}
}
