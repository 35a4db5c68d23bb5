package wasim

import signallog "go.mau.fi/libsignal/logger"

// libsignal creates its package-level logger lazily on first use, which is a data race when two
// goroutines make their first Signal call at the same time (two simulators starting in parallel
// tests, two whatsmeow clients decrypting). Installing a logger before any goroutine exists
// removes that race; its default logger also prints to stdout, which this quiet one does not.
// A program that wants libsignal's messages can replace it in main before starting work.
func init() {
	if signallog.Logger == nil {
		signallog.Logger = quietSignalLogger{}
	}
}

type quietSignalLogger struct{}

func (quietSignalLogger) Debug(caller, message string)   {}
func (quietSignalLogger) Info(caller, message string)    {}
func (quietSignalLogger) Warning(caller, message string) {}
func (quietSignalLogger) Error(caller, message string)   {}
func (quietSignalLogger) Configure(settings string)      {}
