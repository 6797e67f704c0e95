// Package retry is dcproxy's one retry loop: attempts with a doubling, jittered delay between them,
// bounded by a context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy says how often and how patiently to retry.
type Policy struct {
	// Attempts is the most attempts made in all (values below 1 mean 1).
	Attempts int
	// Delay is the base delay before the second attempt; it doubles for each further one. The wait
	// is jittered to between half and one and a half times the base, so that hosts that failed
	// together do not retry together. <= 0 means no wait.
	Delay time.Duration
	// OnRetry, when set, is called before each wait with the attempt that failed (from 1), the
	// wait and the error.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// Do calls try until it returns a nil error or retry false, Attempts were made, or ctx ends while
// waiting. try returns whether another attempt may succeed and how long the other side asked to
// wait (0: not said; it replaces the jittered delay). Do returns the number of attempts made and
// the last error of try (ctx's end is not an error of its own: the caller sees ctx.Err()).
func Do(ctx context.Context, p Policy, try func(attempt int) (retry bool, wait time.Duration, err error)) (attempts int, err error) {
	delay := p.Delay
	for attempt := 1; ; attempt++ {
		retry, wait, err := try(attempt)
		if err == nil || !retry || attempt >= p.Attempts || ctx.Err() != nil {
			return attempt, err
		}
		if wait <= 0 {
			wait = Jitter(delay)
			delay *= 2
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		}
	}
}

// Jitter returns a random duration in [d/2, 3d/2); 0 for d <= 0.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}
