// Package signallog installs a quiet logger for libsignal (go.mau.fi/libsignal/logger) when the
// package is initialised.
//
// libsignal keeps its logger in a package variable that it creates lazily on first use
// (logger.ensureLogger): two goroutines making their first Signal call at the same time, such as
// two devices signing their first pre-keys (whatsmeow's sqlstore Container.NewDevice) or two
// whatsmeow clients decrypting, race on that variable, and libsignal's default logger prints to
// stdout. Importing this package sets the variable before any goroutine of the program exists.
// The bridge replaces the quiet logger with one that writes to its own log at start-up
// (whatsapp.Configure), before any login starts.
package signallog

import libsignallog "go.mau.fi/libsignal/logger"

func init() {
	if libsignallog.Logger == nil {
		libsignallog.Logger = quiet{}
	}
}

// quiet drops every message.
type quiet struct{}

func (quiet) Debug(caller, message string)   {}
func (quiet) Info(caller, message string)    {}
func (quiet) Warning(caller, message string) {}
func (quiet) Error(caller, message string)   {}
func (quiet) Configure(settings string)      {}
