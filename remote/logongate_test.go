package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// hookDialer honours BeforeLogon: every host "connects", then calls the hook, then refuses or
// accepts by user. connected counts the hosts that got as far as the hook.
type hookDialer struct {
	connected, logons atomic.Int32
	hooked            bool
	accept            func(Target) bool
}

type nopRunner struct{}

func (nopRunner) Run(context.Context, string) (Output, error) { return Output{}, nil }
func (nopRunner) Close(context.Context) error                 { return nil }

func (d *hookDialer) CallsBeforeLogon() bool { return d.hooked }

func (d *hookDialer) Dial(ctx context.Context, t Target) (Runner, error) {
	d.connected.Add(1)
	if d.hooked && t.BeforeLogon != nil {
		if err := t.BeforeLogon(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}
	d.logons.Add(1)
	if d.accept(t) {
		return nopRunner{}, nil
	}
	return nil, fmt.Errorf("%w: http 401", ErrAuth)
}

func TestGatedDialer_refusalsNeverExceedLimit(t *testing.T) {
	for _, hooked := range []bool{true, false} {
		t.Run(fmt.Sprintf("hooked=%v", hooked), func(t *testing.T) {
			d := &hookDialer{hooked: hooked, accept: func(Target) bool { return false }}
			g := NewGatedDialer(d, NewLogonGate(3))
			var wg sync.WaitGroup
			var notAttempted atomic.Int32
			for i := range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := g.Dial(context.Background(), Target{Host: fmt.Sprintf("h%d", i), User: `LAB\bad`})
					if !errors.Is(err, ErrAuth) {
						t.Errorf("h%d: %v, want an auth error", i, err)
					}
					if errors.Is(err, ErrNotAttempted) {
						notAttempted.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := d.logons.Load(); n != 3 {
				t.Fatalf("%d logons with a refused account, want 3", n)
			}
			if n := notAttempted.Load(); n != 27 {
				t.Fatalf("%d hosts not attempted, want 27", n)
			}
			if hooked && d.connected.Load() != 30 {
				t.Fatalf("hooked: %d hosts connected, want all 30 (only the logon is gated)", d.connected.Load())
			}
		})
	}
}

func TestGatedDialer_successOpensTheGate(t *testing.T) {
	d := &hookDialer{hooked: true, accept: func(t Target) bool { return t.Host == "good" }}
	g := NewGatedDialer(d, NewLogonGate(1))
	if _, err := g.Dial(context.Background(), Target{Host: "good", User: "u"}); err != nil {
		t.Fatal(err)
	}
	// Verified: every later refusal is that host's problem; nobody is "not attempted".
	for i := range 5 {
		_, err := g.Dial(context.Background(), Target{Host: fmt.Sprintf("bad%d", i), User: "U"})
		if !errors.Is(err, ErrAuth) || errors.Is(err, ErrNotAttempted) {
			t.Fatalf("bad%d: %v", i, err)
		}
	}
	if d.logons.Load() != 6 {
		t.Fatalf("logons %d, want 6", d.logons.Load())
	}
}

// blockedHook blocks in the hook until released: the slot is held only from the hook on.
func TestGatedDialer_slotTakenOnlyAtTheHook(t *testing.T) {
	gate := NewLogonGate(1)
	hold := make(chan struct{})
	entered := make(chan struct{})
	first := LogonHookDialerFunc(func(ctx context.Context, t Target) (Runner, error) {
		if err := t.BeforeLogon(ctx); err != nil {
			return nil, err
		}
		close(entered)
		<-hold
		return nil, fmt.Errorf("%w: 401", ErrAuth)
	})
	go func() { _, _ = NewGatedDialer(first, gate).Dial(context.Background(), Target{Host: "a", User: "u"}) }()
	<-entered
	// A second host that fails before its logon never waits for the held slot.
	noLogon := LogonHookDialerFunc(func(ctx context.Context, t Target) (Runner, error) {
		return nil, fmt.Errorf("%w: refused", ErrUnreachable)
	})
	if _, err := NewGatedDialer(noLogon, gate).Dial(context.Background(), Target{Host: "b", User: "u"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("b: %v", err)
	}
	// A third that reaches its logon waits, and times out with a clear error when ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	waiting := LogonHookDialerFunc(func(ctx context.Context, t Target) (Runner, error) {
		cancel()
		return nil, t.BeforeLogon(ctx)
	})
	if _, err := NewGatedDialer(waiting, gate).Dial(ctx, Target{Host: "c", User: "u"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("c: %v", err)
	}
	close(hold)
}

func TestGatedDialer_panicReleasesTheSlot(t *testing.T) {
	gate := NewLogonGate(1)
	boom := LogonHookDialerFunc(func(ctx context.Context, t Target) (Runner, error) {
		_ = t.BeforeLogon(ctx)
		panic("boom")
	})
	func() {
		defer func() { _ = recover() }()
		_, _ = NewGatedDialer(boom, gate).Dial(context.Background(), Target{Host: "a", User: "u"})
	}()
	d := &hookDialer{hooked: true, accept: func(Target) bool { return true }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // must not wait: the panicked host gave its slot back
	if _, err := NewGatedDialer(d, gate).Dial(ctx, Target{Host: "b", User: "u"}); err != nil {
		t.Fatalf("b: %v", err)
	}
}

func TestNewGatedDialer_nilGate(t *testing.T) {
	d := &hookDialer{}
	if NewGatedDialer(d, nil) != Dialer(d) {
		t.Fatal("a nil gate must return the dialer itself")
	}
}

func TestGatedDialer_refusalWithoutHookStillCounts(t *testing.T) {
	gate := NewLogonGate(2)
	skips := LogonHookDialerFunc(func(context.Context, Target) (Runner, error) {
		return nil, fmt.Errorf("%w: KDC: preauthentication failed", ErrAuth) // never called the hook
	})
	g := NewGatedDialer(skips, gate)
	for _, h := range []string{"a", "b"} {
		if _, err := g.Dial(context.Background(), Target{Host: h, User: "u"}); errors.Is(err, ErrNotAttempted) {
			t.Fatalf("%s: %v", h, err)
		}
	}
	called := false
	probe := LogonHookDialerFunc(func(ctx context.Context, t Target) (Runner, error) {
		called = true
		return nil, t.BeforeLogon(ctx)
	})
	_, err := NewGatedDialer(probe, gate).Dial(context.Background(), Target{Host: "c", User: "U"})
	if !errors.Is(err, ErrNotAttempted) || !called {
		t.Fatalf("c after two refusals: %v, want not attempted", err)
	}
}
