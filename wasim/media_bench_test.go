package wasim

import (
	"testing"
	"time"
)

// BenchmarkSendImage measures uploading and sending a 100 KB image from a companion to a contact
// (encrypt, upload, SendMessage with its ack), and checks that the last one downloads intact.
func BenchmarkSendImage(b *testing.B) {
	srv := newTestServer(b)
	ctx := testContext(b)
	acct := newAccount(b, ctx, srv, "Bench")
	peer := newContact(b, ctx, srv, "Peer")
	sender := pairByQR(b, ctx, srv, acct)
	data := randomBytes(100 << 10)
	if _, err := sender.cli.SendMessage(ctx, peer.JID(), textMessage("warm up")); err != nil {
		b.Fatalf("send failed: %v", err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	start := time.Now()
	var lastID string
	for range b.N {
		msg, err := UploadMedia(ctx, sender.cli, Media{Kind: KindImage, Data: data})
		if err != nil {
			b.Fatalf("upload failed: %v", err)
		}
		resp, err := sender.cli.SendMessage(ctx, peer.JID(), msg)
		if err != nil {
			b.Fatalf("send failed: %v", err)
		}
		lastID = resp.ID
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	evt, err := peer.WaitMessage(ctx, idIs(lastID))
	if err != nil {
		b.Fatalf("last image never arrived: %v", err)
	}
	if got, err := peer.Download(ctx, evt.Message); err != nil || len(got) != len(data) {
		b.Fatalf("last image did not download: %v", err)
	}
}
