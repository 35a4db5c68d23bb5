package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
)

// Backfill benchmark sizes: benchHistoryMessages across benchHistoryChats chats in all, shared
// out over the rounds (b.N), so that a run backfills this much whatever -benchtime says.
const (
	benchHistoryChats    = 50
	benchHistoryMessages = 10_000
	benchHistoryChunk    = 500 // messages per history chunk (the simulated phone's default)
	// benchCeilingMessages is how many messages the homeserver ceiling measurement sends.
	benchCeilingMessages = 40
)

// BenchmarkHistoryBackfill measures how fast the bridge posts a phone's history into new portals:
// 10,000 text messages across 50 chats in all, split over the rounds. Each round links a fresh
// account whose phone holds back its last history chunk; the clock runs from when the phone sends
// that chunk (the bridge then backfills everything it collected) until the summary is in the
// management room. It reports messages/s next to the Dendrite ceiling measured in the same run.
// It takes about ten minutes, so `make bench` leaves it out: BenchmarkPerformance measures a
// smaller backfill.
func BenchmarkHistoryBackfill(b *testing.B) {
	env := newWAEnv(b, testdb.SQLite, func(cfg map[string]any) {
		e2e.SetConfig(cfg, "logging.level", "info")
		e2e.SetConfig(cfg, "bridge.history_sync.max_chats", -1)
		e2e.SetConfig(cfg, "bridge.history_sync.max_messages_per_chat", -1)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	perChat := max(benchHistoryMessages/benchHistoryChats/b.N, 1)
	total := 0
	var elapsed time.Duration
	b.StopTimer()
	for round := range b.N {
		n, d := timeBackfill(b, ctx, env, fmt.Sprintf("alice%d", round), fmt.Sprintf("49151124%05d", 500+round), fmt.Sprintf("49155%02d", round),
			benchHistoryChats, perChat)
		total += n
		elapsed += d
	}
	ceiling := e2e.MeasureCeiling(b, benchCeilingMessages)
	perSecond := float64(total) / elapsed.Seconds()
	b.ReportMetric(perSecond, "backfill_msgs/s")
	b.ReportMetric(ceiling.PerSecond, "dendrite_ceiling_msgs/s")
	b.ReportMetric(perSecond/ceiling.PerSecond, "backfill_of_dendrite_ceiling")
	b.Logf("backfilled %d messages in %d chats in %s; ceiling: %s", total, benchHistoryChats*b.N, elapsed.Round(time.Millisecond), ceiling)
}
