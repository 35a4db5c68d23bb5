package signallog

import (
	"sync"
	"testing"

	libsignallog "go.mau.fi/libsignal/logger"
	"go.mau.fi/whatsmeow/util/keys"
)

// TestFirstSignaturesInParallel: several goroutines making their first libsignal call at once
// (what parallel logins or tests do) find the logger installed, so the race detector has nothing
// to report, and nothing is printed.
func TestFirstSignaturesInParallel(t *testing.T) {
	if _, ok := libsignallog.Logger.(quiet); !ok {
		t.Fatalf("libsignal's logger is %T after the package's init, want the quiet one", libsignallog.Logger)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			keys.NewKeyPair().CreateSignedPreKey(1)
		})
	}
	wg.Wait()
}
