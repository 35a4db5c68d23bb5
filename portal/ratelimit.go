package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
)

// rateLimitDelays are the waits before each new attempt of a query WhatsApp refused with 429
// rate-overlimit: about a minute in all, after which the refusal is returned.
var rateLimitDelays = [...]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// IsRateLimited reports whether WhatsApp refused a query because the account made too many
// (IQ error 429 rate-overlimit, whatsmeow's ErrIQRateOverLimit).
func IsRateLimited(err error) bool {
	return errors.Is(err, whatsmeow.ErrIQRateOverLimit)
}

// RetryRateLimited runs query, and again after a growing delay as long as WhatsApp answers 429
// rate-overlimit, for about a minute. It returns nil once query succeeds, query's error when it is
// not a rate limit, the last rate-limit error when the limit persists, or the cause of ctx ending.
// what names the query in logs.
func RetryRateLimited(ctx context.Context, what string, query func() error) error {
	return retryRateLimited(ctx, what, rateLimitDelays[:], query)
}

func retryRateLimited(ctx context.Context, what string, delays []time.Duration, query func() error) error {
	for attempt := 0; ; attempt++ {
		err := query()
		if !IsRateLimited(err) {
			return err
		}
		if attempt == len(delays) {
			return fmt.Errorf("WhatsApp kept refusing to %s (rate limit): %w", what, err)
		}
		zerolog.Ctx(ctx).Debug().Str("query", what).Dur("retry_in", delays[attempt]).Msg("WhatsApp rate-limited a query, retrying later")
		timer := time.NewTimer(delays[attempt])
		select {
		case <-ctx.Done():
			timer.Stop()
			return context.Cause(ctx)
		case <-timer.C:
		}
	}
}
