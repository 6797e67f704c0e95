package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// DefaultAuthFailureLimit is how many hosts may refuse an account before any logon with it has
// succeeded, before dcproxy stops trying it (domain lockout thresholds are commonly 5 to 10).
const DefaultAuthFailureLimit = 3

// ErrNotAttempted is wrapped (together with ErrAuth) by the error of a Dial that a LogonGate did
// not let send credentials because too many hosts refused the account already.
var ErrNotAttempted = errors.New("not attempted")

// LogonGate keeps a wrong password from locking the account out across the domain: until a logon
// with an account has succeeded somewhere, at most limit hosts try it at once (fewer as refusals
// accumulate, so that no more than limit hosts ever refuse it), and once limit hosts have refused
// it, the remaining hosts are not tried with it. After one success the account is known good and
// the gate no longer holds anything back (a refusal then is about that host).
//
// Only the exchange that carries credentials is gated (see Target.BeforeLogon): a host that never
// answers, or fails before authentication (unreachable, TLS, protocol), never takes a slot when its
// Dialer honours the hook. A LogonGate is safe for concurrent use; one gate serves one run.
type LogonGate struct {
	limit int
	mu    sync.Mutex
	accts map[string]*logonState
}

type logonState struct {
	verified bool
	inflight int
	refused  []string      // hosts that refused the account before it was verified
	changed  chan struct{} // closed and replaced on every change
}

// NewLogonGate returns a gate letting at most limit (>= 1) unverified logons per account happen.
func NewLogonGate(limit int) *LogonGate {
	return &LogonGate{limit: max(limit, 1), accts: map[string]*logonState{}}
}

// Acquire waits (bounded by ctx) until host may try a logon as user. It returns a release function
// that must be called with the outcome of the logon (nil: accepted; an error wrapping ErrAuth:
// refused; any other error: says nothing about the account); calls after the first are ignored.
// It fails with an error wrapping ErrAuth and ErrNotAttempted when limit hosts refused the account
// already, or with ctx's error (wrapping ErrTimeout for a deadline) when ctx ends first.
func (g *LogonGate) Acquire(ctx context.Context, user, host string) (release func(error), err error) {
	key := strings.ToLower(user)
	for {
		g.mu.Lock()
		st := g.accts[key]
		if st == nil {
			st = &logonState{changed: make(chan struct{})}
			g.accts[key] = st
		}
		switch {
		case st.verified:
			g.mu.Unlock()
			return func(error) {}, nil
		case len(st.refused) >= g.limit:
			refused := strings.Join(st.refused, ", ")
			g.mu.Unlock()
			return nil, fmt.Errorf("%w: %w: %s was refused by %s before any logon with it succeeded; no more hosts are tried with it, so the account is not locked out (check its password)",
				ErrAuth, ErrNotAttempted, user, refused)
		case len(st.refused)+st.inflight < g.limit: // so refusals can never exceed limit
			st.inflight++
			g.mu.Unlock()
			var once sync.Once
			return func(err error) { once.Do(func() { g.release(st, host, err) }) }, nil
		}
		changed, inflight := st.changed, st.inflight
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: waiting for a logon slot (%d hosts are trying %s, not verified yet): %w", ErrTimeout, inflight, user, err)
			}
			return nil, err
		}
	}
}

func (g *LogonGate) release(st *logonState, host string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st.inflight--
	switch {
	case err == nil:
		st.verified = true
	case errors.Is(err, ErrAuth) && !errors.Is(err, ErrNotAttempted) && !st.verified:
		st.refused = append(st.refused, host)
	}
	close(st.changed)
	st.changed = make(chan struct{})
}

// noteRefusal records a refusal of user by host that happened without a slot.
func (g *LogonGate) noteRefusal(user, host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.accts[strings.ToLower(user)]
	if st == nil {
		st = &logonState{changed: make(chan struct{})}
		g.accts[strings.ToLower(user)] = st
	}
	if st.verified {
		return
	}
	st.refused = append(st.refused, host)
	close(st.changed)
	st.changed = make(chan struct{})
}

// gatedDialer is a Dialer whose logons pass a LogonGate.
type gatedDialer struct {
	next Dialer
	gate *LogonGate
}

// NewGatedDialer returns a Dialer that dials with d and lets every logon pass gate first. When d
// honours Target.BeforeLogon (LogonHooker), only the exchange carrying credentials is gated, so a
// host that does not answer never holds a slot; otherwise the whole Dial is. The outcome of the
// logon is Dial's error: nil verifies the account, ErrAuth counts a refusal by that host. With a
// nil gate it returns d.
func NewGatedDialer(d Dialer, gate *LogonGate) Dialer {
	if gate == nil {
		return d
	}
	return gatedDialer{next: d, gate: gate}
}

// Dial implements Dialer.
func (d gatedDialer) Dial(ctx context.Context, t Target) (Runner, error) {
	if h, ok := d.next.(LogonHooker); ok && h.CallsBeforeLogon() {
		return d.dialHooked(ctx, t)
	}
	release, err := d.gate.Acquire(ctx, t.User, t.Host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	outcome := errors.New("dial did not return") // a panic must not hold the slot or count as a refusal
	defer func() { release(outcome) }()
	r, err := d.next.Dial(ctx, t)
	outcome = err
	return r, err
}

func (d gatedDialer) dialHooked(ctx context.Context, t Target) (Runner, error) {
	var (
		mu      sync.Mutex
		release func(error)
	)
	inner := t.BeforeLogon
	t.BeforeLogon = func(hctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if release != nil {
			return nil // once per Dial
		}
		rel, err := d.gate.Acquire(hctx, t.User, t.Host)
		if err != nil {
			return err
		}
		release = rel
		if inner != nil {
			return inner(hctx)
		}
		return nil
	}
	outcome := errors.New("dial did not return")
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case release != nil:
			release(outcome)
		case errors.Is(outcome, ErrAuth) && !errors.Is(outcome, ErrNotAttempted):
			// Refused without calling the hook (credentials used before the first request, e.g. with
			// a KDC): the contract was broken, but the refusal still counts against the account.
			d.gate.noteRefusal(t.User, t.Host)
		}
	}()
	r, err := d.next.Dial(ctx, t)
	outcome = err
	return r, err
}

// CallsBeforeLogon implements LogonHooker: a gated dialer honours a BeforeLogon of its caller
// (after its own gate) exactly when the dialer it wraps does.
func (d gatedDialer) CallsBeforeLogon() bool {
	h, ok := d.next.(LogonHooker)
	return ok && h.CallsBeforeLogon()
}

// LogonHookDialerFunc is a Dialer function that calls Target.BeforeLogon itself (for tests and adapters).
type LogonHookDialerFunc func(ctx context.Context, t Target) (Runner, error)

// Dial implements Dialer.
func (f LogonHookDialerFunc) Dial(ctx context.Context, t Target) (Runner, error) { return f(ctx, t) }

// CallsBeforeLogon implements LogonHooker.
func (LogonHookDialerFunc) CallsBeforeLogon() bool { return true }
