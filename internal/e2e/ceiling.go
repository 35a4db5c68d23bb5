package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// Ceiling is what the homeserver alone achieves when a Matrix user sends messages that an
// appservice receives: the upper bound for anything the bridge does in that direction.
type Ceiling struct {
	// Messages is how many messages were sent.
	Messages int
	// PerSecond is messages delivered to the appservice per second, from the first send to the
	// last delivery.
	PerSecond float64
	// MeanLatency is the mean time from the start of a client's send to the appservice receiving it.
	MeanLatency time.Duration
}

// String formats the figures for a test or benchmark log.
func (c Ceiling) String() string {
	return fmt.Sprintf("%d messages, %.1f msg/s, mean client->appservice latency %s",
		c.Messages, c.PerSecond, c.MeanLatency.Round(100*time.Microsecond))
}

// MeasureCeiling starts a fresh Dendrite with a minimal appservice (an in-process HTTP server that
// only records arrival times), sends n messages from one user in one room, one after another as a
// client would, and measures how fast they reach the appservice. Benchmarks of the bridge call it in
// the same run, so that their figures can be read against what the homeserver allows on this machine.
// Given a *testing.B, it times only the sending and delivery (setup excluded).
func MeasureCeiling(t testing.TB, n int) Ceiling {
	t.Helper()
	SkipInShortMode(t)
	probe := NewProbe(t)
	env := New(t, Options{NoBridge: true, DendriteConfig: probe.AddTo})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sender := env.NewUser(t, "ceiling")
	room, err := sender.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatalf("e2e: failed to create the ceiling room: %v", err)
	}
	bot, err := probe.Bot(env)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if _, err = bot.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatalf("e2e: the probe appservice failed to join: %v", err)
	}

	b, isBenchmark := t.(*testing.B)
	if isBenchmark {
		b.ResetTimer()
	}
	sent := make([]time.Time, n)
	bodies := make([]string, n)
	start := time.Now()
	for i := range n {
		sent[i] = time.Now()
		bodies[i] = "ceiling " + strconv.Itoa(i)
		if _, err = sender.SendText(ctx, room.RoomID, bodies[i]); err != nil {
			t.Fatalf("e2e: failed to send message %d: %v", i, err)
		}
	}
	arrived, err := probe.WaitBodies(ctx, bodies)
	if isBenchmark {
		b.StopTimer()
	}
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	var last time.Time
	var total time.Duration
	for i, at := range arrived {
		total += at.Sub(sent[i])
		if at.After(last) {
			last = at
		}
	}
	return Ceiling{
		Messages:    n,
		PerSecond:   float64(n) / last.Sub(start).Seconds(),
		MeanLatency: total / time.Duration(n),
	}
}
