package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errX = errors.New("x")

func TestDo_stopsOnSuccess(t *testing.T) {
	n, err := Do(context.Background(), Policy{Attempts: 5}, func(a int) (bool, time.Duration, error) {
		if a < 3 {
			return true, 0, errX
		}
		return true, 0, nil
	})
	if n != 3 || err != nil {
		t.Fatalf("attempts %d err %v, want 3 nil", n, err)
	}
}

func TestDo_stopsOnNonRetryable(t *testing.T) {
	n, err := Do(context.Background(), Policy{Attempts: 5}, func(int) (bool, time.Duration, error) { return false, 0, errX })
	if n != 1 || !errors.Is(err, errX) {
		t.Fatalf("attempts %d err %v, want 1 x", n, err)
	}
}

func TestDo_attemptsBound(t *testing.T) {
	var waits []time.Duration
	p := Policy{Attempts: 4, Delay: time.Microsecond, OnRetry: func(_ int, w time.Duration, _ error) { waits = append(waits, w) }}
	n, err := Do(context.Background(), p, func(int) (bool, time.Duration, error) { return true, 0, errX })
	if n != 4 || !errors.Is(err, errX) || len(waits) != 3 {
		t.Fatalf("attempts %d err %v waits %v", n, err, waits)
	}
	for i, w := range waits {
		base := time.Microsecond << i
		if w < base/2 || w >= base*3/2 {
			t.Errorf("wait %d = %v, want in [%v, %v)", i, w, base/2, base*3/2)
		}
	}
}

func TestDo_serverWaitReplacesDelay(t *testing.T) {
	var got time.Duration
	p := Policy{Attempts: 2, Delay: time.Hour, OnRetry: func(_ int, w time.Duration, _ error) { got = w }}
	Do(context.Background(), p, func(int) (bool, time.Duration, error) { return true, time.Microsecond, errX })
	if got != time.Microsecond {
		t.Fatalf("wait %v, want the server's 1µs", got)
	}
}

func TestDo_contextEndsWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{Attempts: 3, Delay: time.Hour, OnRetry: func(int, time.Duration, error) { cancel() }}
	n, err := Do(ctx, p, func(int) (bool, time.Duration, error) { return true, 0, errX })
	if n != 1 || !errors.Is(err, errX) {
		t.Fatalf("attempts %d err %v, want 1 x (interrupted)", n, err)
	}
}

func TestJitter(t *testing.T) {
	if Jitter(0) != 0 || Jitter(-1) != 0 {
		t.Fatal("non-positive delay must not wait")
	}
}
