package wasim

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSendText measures how fast one whatsmeow client can push text messages through the
// simulator to a contact: each send waits for the server's ack, as SendMessage does.
func BenchmarkSendText(b *testing.B) {
	srv := newTestServer(b)
	ctx := testContext(b)
	acct := newAccount(b, ctx, srv, "Bench")
	peer := newContact(b, ctx, srv, "Peer")
	sender := pairByQR(b, ctx, srv, acct)
	// Warm up: usync, prekey fetch and session setup happen on the first send.
	if _, err := sender.cli.SendMessage(ctx, peer.JID(), textMessage("warm up")); err != nil {
		b.Fatalf("send failed: %v", err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := sender.cli.SendMessage(ctx, peer.JID(), textMessage(fmt.Sprintf("bench %d", i))); err != nil {
			b.Fatalf("send %d failed: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	last := fmt.Sprintf("bench %d", b.N-1)
	if _, err := peer.WaitMessage(ctx, textIs(last)); err != nil {
		b.Fatalf("last message never arrived: %v", err)
	}
}
