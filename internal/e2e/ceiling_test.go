package e2e

import (
	"testing"
)

// TestMeasureCeiling checks that the homeserver delivers every message to an appservice and that the
// figures are plausible.
func TestMeasureCeiling(t *testing.T) {
	t.Parallel()
	c := MeasureCeiling(t, 20)
	t.Logf("homeserver ceiling: %s", c)
	if c.Messages != 20 || c.PerSecond <= 0 || c.MeanLatency <= 0 {
		t.Fatalf("implausible figures: %+v", c)
	}
}

// ceilingRound is how many messages one round (b.N) of BenchmarkHomeserverCeiling sends, the
// size of a round of the bridge's own benchmark.
const ceilingRound = 40

// BenchmarkHomeserverCeiling measures how fast Dendrite alone moves messages from a Matrix client to
// an appservice on this machine: the bound for the bridge's Matrix->WhatsApp throughput.
func BenchmarkHomeserverCeiling(b *testing.B) {
	c := MeasureCeiling(b, b.N*ceilingRound)
	b.ReportMetric(c.PerSecond, "msg/s")
	b.ReportMetric(float64(c.MeanLatency.Microseconds())/1000, "ms-latency")
}
