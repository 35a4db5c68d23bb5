package portal

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
)

func TestRetryRateLimited(t *testing.T) {
	delays := []time.Duration{time.Millisecond, time.Millisecond}
	ctx := context.Background()
	calls := 0
	refuseTimes := func(n int, final error) func() error {
		calls = 0
		return func() error {
			calls++
			if calls <= n {
				return whatsmeow.ErrIQRateOverLimit
			}
			return final
		}
	}
	if err := retryRateLimited(ctx, "list groups", delays, refuseTimes(2, nil)); err != nil || calls != 3 {
		t.Errorf("limited twice then fine: err %v after %d calls, want success after 3", err, calls)
	}
	if err := retryRateLimited(ctx, "list groups", delays, refuseTimes(3, nil)); !IsRateLimited(err) || calls != 3 {
		t.Errorf("limit that persists: err %v after %d calls, want the rate limit after 3", err, calls)
	}
	other := errors.New("forbidden")
	if err := retryRateLimited(ctx, "list groups", delays, refuseTimes(0, other)); !errors.Is(err, other) || calls != 1 {
		t.Errorf("other error: err %v after %d calls, want it at once", err, calls)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := retryRateLimited(cancelled, "list groups", []time.Duration{time.Hour}, refuseTimes(5, nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: err %v", err)
	}
}
