package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"golang.org/x/sync/errgroup"
)

// fanOut runs fn for every host with at most opt.Concurrency in flight, each under its own deadline,
// each writing only its own slot. A panic in fn becomes that host's error.
// With a gate, a host first waits (on the run's context, not its own deadline) for leave to try a
// logon; fn must pass the outcome of its dial to the release function it is given.
func fanOut(ctx context.Context, hosts []inventory.Host, opt Options, gate *logonGate,
	fn func(context.Context, inventory.Host, Options, func(error)) HostResult) []HostResult {
	results := make([]HostResult, len(hosts))
	var g errgroup.Group // not WithContext: no host returns an error, none cancels another
	g.SetLimit(opt.Concurrency)
	var done atomicCounter
	for i, h := range hosts {
		if ctx.Err() != nil {
			results[i] = canceledResult(h, "not started: the run was interrupted")
			continue
		}
		g.Go(func() error {
			start := opt.Now()
			release := func(error) {}
			if gate != nil {
				if t, err := opt.Target(h); err == nil {
					rel, err := gate.acquire(ctx, t.User, h.Name)
					if err != nil {
						results[i] = errorResult(h, hostErr(err))
						if opt.Progress != nil {
							opt.Progress(done.inc(), results[i])
						}
						return nil
					}
					release = rel
					defer release(errNotDialed) // a panic or early return must not hold the slot
				}
			}
			hctx, cancel := context.WithTimeout(ctx, opt.HostTimeout)
			defer cancel()
			func() {
				defer func() {
					if p := recover(); p != nil {
						opt.Logger.Error("panic while checking host", "host", h.Name, "panic", p, "stack", string(debug.Stack()))
						results[i] = errorResult(h, &HostError{Kind: "error", Message: fmt.Sprintf("internal error: %v", p)})
					}
				}()
				results[i] = fn(hctx, h, opt, release)
			}()
			results[i].DurationMS = opt.Now().Sub(start).Milliseconds()
			if opt.Progress != nil {
				opt.Progress(done.inc(), results[i])
			}
			return nil
		})
	}
	_ = g.Wait()
	return results
}

func baseResult(h inventory.Host) HostResult {
	return HostResult{Host: h.Name, Address: h.Address, Site: h.Site, Tags: h.Tags, Checks: []Check{}}
}

func errorResult(h inventory.Host, e *HostError) HostResult {
	r := baseResult(h)
	r.Status, r.Error = StatusError, e
	return r
}

func canceledResult(h inventory.Host, msg string) HostResult {
	return errorResult(h, &HostError{Kind: "canceled", Message: msg})
}

// hostErr turns a transport error into the report's error, naming its kind.
func hostErr(err error) *HostError {
	return &HostError{Kind: remote.Kind(err), Message: err.Error()}
}

// session is a dialed host with its counters.
type session struct {
	runner   remote.Runner
	attempts int
}

// dial opens a Runner with retries for transient failures only, within ctx.
// dialed, when not nil, learns the outcome of the first attempt (nil, an ErrAuth refusal, or
// errNotDialed when it failed before authentication); see logonGate.
func dial(ctx context.Context, h inventory.Host, opt Options, dialed func(error)) (*session, error) {
	if dialed == nil {
		dialed = func(error) {}
	}
	t, err := opt.Target(h)
	if err != nil {
		return nil, err
	}
	log := opt.Logger.With("host", h.Name)
	delay := opt.Backoff
	for attempt := 1; ; attempt++ {
		r, err := opt.Dialer.Dial(ctx, t)
		switch {
		case err == nil:
			dialed(nil)
			return &session{runner: r, attempts: attempt}, nil
		case errors.Is(err, remote.ErrAuth):
			dialed(err)
		default:
			dialed(errNotDialed)
		}
		if !remote.Transient(err) || attempt > opt.Retries || ctx.Err() != nil {
			return &session{attempts: attempt}, err
		}
		jittered := delay/2 + rand.N(delay)
		log.Info("transient error, retrying", "attempt", attempt, "in", jittered.Round(time.Millisecond), "err", err)
		select {
		case <-time.After(jittered):
		case <-ctx.Done():
			return &session{attempts: attempt}, err
		}
		delay *= 2
	}
}

func (s *session) close(ctx context.Context) {
	if s.runner == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.runner.Close(cctx)
}

func (s *session) stats() *Stats {
	st := &Stats{Attempts: s.attempts}
	if sr, ok := s.runner.(remote.StatsReporter); ok {
		x := sr.Stats()
		st.Requests, st.Handshakes, st.WaitMS = x.Requests, x.Handshakes, x.Wait.Milliseconds()
	}
	return st
}
