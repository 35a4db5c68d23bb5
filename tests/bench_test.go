package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-whatsapp/matrix-whatsapp/internal/e2e"
	"github.com/matrix-whatsapp/matrix-whatsapp/internal/testdb"
	"github.com/matrix-whatsapp/matrix-whatsapp/wasim"
)

// benchBatch is how many messages each direction sends per benchmark iteration.
const benchBatch = 40

// BenchmarkBridgeThroughput measures messages per second through the whole bridge in both
// directions and reports them against two ceilings measured in the same run: Dendrite alone
// delivering client messages to an appservice, and a whatsmeow client sending straight into wasim.
func BenchmarkBridgeThroughput(b *testing.B) {
	env := newWAEnv(b, testdb.SQLite, func(cfg map[string]any) { e2e.SetConfig(cfg, "logging.level", "info") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	alice := newLoggedInUser(b, ctx, env, "alice", "4915112345678")
	carol, err := env.WA.CreateContact(ctx, "4917600000002", "Carol")
	if err != nil {
		b.Fatal(err)
	}
	dave, err := env.WA.CreateContact(ctx, "4917600000003", "Dave")
	if err != nil {
		b.Fatal(err)
	}
	carolGhost := ghostOf(env, "4917600000002")
	if _, err = carol.SendText(ctx, alice.acct.JID(), "warm up"); err != nil {
		b.Fatal(err)
	}
	dm := joinPortal(b, ctx, env, alice.client, carolGhost)
	env.WaitForMessage(ctx, alice.client, dm, fromGhost(carolGhost, "warm up"))
	if _, err = dave.SendText(ctx, carol.JID(), "warm up"); err != nil {
		b.Fatal(err)
	}

	// The WhatsApp->Matrix waits read only the new events of the room (a cursor), so that the wait
	// does not grow with the room over the run.
	cursor := env.NewCursor(ctx, alice.client, dm)
	var toWA, toMatrix, raw time.Duration
	b.ResetTimer()
	for i := range b.N {
		toWA += timeMatrixToWhatsApp(b, ctx, alice, dm, carol, i)
		toMatrix += timeWhatsAppToMatrix(b, ctx, cursor, alice, carol, i)
		raw += timeRawWhatsApp(b, ctx, dave, carol, i)
	}
	b.StopTimer()
	ceiling := e2e.MeasureCeiling(b, benchBatch)
	perSecond := func(d time.Duration) float64 { return float64(b.N*benchBatch) / d.Seconds() }
	b.ReportMetric(perSecond(toWA), "matrix→wa_msgs/s")
	b.ReportMetric(perSecond(toMatrix), "wa→matrix_msgs/s")
	b.ReportMetric(ceiling.PerSecond, "dendrite_ceiling_msgs/s")
	b.ReportMetric(perSecond(raw), "wasim_raw_msgs/s")
	b.ReportMetric(perSecond(toWA)/ceiling.PerSecond, "matrix→wa_of_dendrite_ceiling")
	b.ReportMetric(perSecond(toWA)/perSecond(raw), "matrix→wa_of_wasim_raw")
	b.Logf("ceiling: %s", ceiling)
}

func timeMatrixToWhatsApp(b *testing.B, ctx context.Context, alice *loggedInUser, dm id.RoomID, carol *wasim.Contact, round int) time.Duration {
	start := time.Now()
	for j := range benchBatch {
		if _, err := alice.client.SendText(ctx, dm, fmt.Sprintf("m2w %d %d", round, j)); err != nil {
			b.Fatal(err)
		}
	}
	waitWAText(b, ctx, carol, fmt.Sprintf("m2w %d %d", round, benchBatch-1))
	return time.Since(start)
}

func timeWhatsAppToMatrix(b *testing.B, ctx context.Context, cursor *e2e.Cursor, alice *loggedInUser, carol *wasim.Contact, round int) time.Duration {
	start := time.Now()
	for j := range benchBatch {
		if _, err := carol.SendText(ctx, alice.acct.JID(), fmt.Sprintf("w2m %d %d", round, j)); err != nil {
			b.Fatal(err)
		}
	}
	prefix := fmt.Sprintf("w2m %d ", round)
	cursor.WaitFor(ctx, benchBatch, func(evt *event.Event) bool {
		return strings.HasPrefix(evt.Content.AsMessage().Body, prefix)
	})
	return time.Since(start)
}

func timeRawWhatsApp(b *testing.B, ctx context.Context, from, to *wasim.Contact, round int) time.Duration {
	start := time.Now()
	for j := range benchBatch {
		if _, err := from.SendText(ctx, to.JID(), fmt.Sprintf("raw %d %d", round, j)); err != nil {
			b.Fatal(err)
		}
	}
	last := fmt.Sprintf("raw %d %d", round, benchBatch-1)
	if _, err := to.WaitMessage(ctx, func(m *events.Message) bool { return wasim.MessageText(m) == last }); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
