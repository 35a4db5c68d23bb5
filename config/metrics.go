package config

import (
	"net"
	"strconv"
)

// defaultMetricsListen is where the metrics endpoint listens unless metrics.listen says otherwise:
// loopback only, so that turning metrics on exposes nothing beyond the machine.
const defaultMetricsListen = "127.0.0.1:8001"

// MetricsConfig configures the Prometheus metrics endpoint, served on its own listener (not the
// appservice port) so that it can be firewalled separately.
type MetricsConfig struct {
	// Enabled turns the endpoint on; off by default.
	Enabled bool `yaml:"enabled"`
	// Listen is the host:port the endpoint listens on; GET /metrics there is the Prometheus scrape.
	Listen string `yaml:"listen"`
	// Pprof serves Go's runtime profiles (net/http/pprof) under /debug/pprof/ on the same
	// listener, which then runs even with Enabled off. Off by default: a profile shows the
	// bridge's inner workings and costs CPU while it is taken.
	Pprof bool `yaml:"pprof"`
}

func (m *MetricsConfig) applyDefaults() {
	setDefault(&m.Listen, defaultMetricsListen)
}

// validate reports bad metrics options through bad, like Config.Validate.
func (m MetricsConfig) validate(bad func(key, format string, args ...any)) {
	if _, port, err := net.SplitHostPort(m.Listen); err != nil {
		bad("metrics.listen", "must be host:port (e.g. 127.0.0.1:8001), got %q", m.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("metrics.listen", "port must be a number between 0 and 65535, got %q", port)
	}
}
