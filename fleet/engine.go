package fleet

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/internal/retry"
	"github.com/dcproxy/dcproxy/remote"
)

// hostJob is what forEachHost does with host i. Each function writes only what belongs to host i.
type hostJob struct {
	// run does the host's work.
	run func(i int)
	// notStarted is called instead of run for a host not started because ctx ended.
	notStarted func(i int)
	// panicked is called when run panicked, with the value and the stack (a panic in one host
	// never stops the others).
	panicked func(i int, v any, stack []byte)
}

// forEachHost is the one fan-out of dcproxy: it calls job.run for i in order (0..n-1) with at most
// limit (>= 1) hosts in flight, and returns when every started host is done. No host can cancel
// another: failures are data the job records. Hosts not started when ctx ends get job.notStarted.
// Deadlines are the job's business (audit: one per host; apply: one per phase).
func forEachHost(ctx context.Context, n, limit int, job hostJob) {
	var g errgroup.Group // not WithContext: no host returns an error, none cancels another
	g.SetLimit(max(limit, 1))
	for i := range n {
		if ctx.Err() != nil {
			job.notStarted(i)
			continue
		}
		g.Go(func() error {
			defer func() {
				if v := recover(); v != nil {
					job.panicked(i, v, debug.Stack())
				}
			}()
			job.run(i)
			return nil
		})
	}
	_ = g.Wait()
}

// auditHosts audits every host under its own deadline and returns the results in inventory order.
func auditHosts(ctx context.Context, hosts []inventory.Host, opt Options) []HostResult {
	opt = opt.gated()
	results := make([]HostResult, len(hosts))
	starts := make([]time.Time, len(hosts))
	var done atomicCounter
	finish := func(i int) {
		results[i].DurationMS = opt.Now().Sub(starts[i]).Milliseconds()
		if opt.Progress != nil {
			opt.Progress(done.inc(), results[i])
		}
	}
	forEachHost(ctx, len(hosts), opt.Concurrency, hostJob{
		run: func(i int) {
			starts[i] = opt.Now()
			hctx, cancel := context.WithTimeout(ctx, opt.HostTimeout)
			defer cancel()
			results[i] = auditHost(hctx, hosts[i], opt)
			finish(i)
		},
		notStarted: func(i int) { results[i] = canceledResult(hosts[i], "not started: the run was interrupted") },
		panicked: func(i int, v any, stack []byte) {
			opt.Logger.Error("panic while checking host", "host", hosts[i].Name, "panic", v, "stack", string(stack))
			results[i] = errorResult(hosts[i], &HostError{Kind: ErrorKindError, Message: fmt.Sprintf("internal error: %v", v)})
			finish(i)
		},
	})
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
	return errorResult(h, &HostError{Kind: ErrorKindCanceled, Message: msg})
}

// hostErr turns a transport error into the report's error, naming its kind.
//
// The message says in plain words what happened and who acts; the transport's own text (Go's
// "context deadline exceeded", .NET's status names) stays in Detail, which the JSON report keeps.
func hostErr(err error) *HostError {
	e := &HostError{Kind: ErrorKind(remote.Kind(err)), Message: err.Error()}
	plain := ""
	switch e.Kind {
	case ErrorKindAuth:
		e.Actor = ActorCredentials
		if !errors.Is(err, remote.ErrNotAttempted) {
			plain = "logon refused: wrong password or user name, or the account is locked, expired or not allowed to log on here"
		}
	case ErrorKindRights:
		e.Actor = ActorCredentials
	case ErrorKindTimeout:
		e.Actor = ActorHost
		plain = "the host did not finish within the host timeout (WinRM too slow or not answering)"
	case ErrorKindUnreachable:
		e.Actor = ActorHost
		plain = "WinRM did not accept a connection (host down, name or address wrong, port closed or filtered)"
	case ErrorKindTLS, ErrorKindProtocol:
		e.Actor = ActorHost // their own text is specific (certificate, fault, Kerberos refusal)
	case ErrorKindCanceled:
		e.Actor = ActorHost
	}
	var sp remote.Specific
	if plain != "" && !(errors.As(err, &sp) && sp.Specific()) {
		e.Message, e.Detail = plain, err.Error()
	}
	return e
}

// session is a dialed host with its counters.
type session struct {
	runner   remote.Runner
	attempts int
}

// dial opens a Runner with opt.Dialer (gated: see Options.gated), retrying transient failures
// only, within ctx. The session is not nil even on error (it carries the attempts).
func dial(ctx context.Context, h inventory.Host, opt Options) (*session, error) {
	t, err := opt.Target(h)
	if err != nil {
		return nil, err
	}
	log := opt.Logger.With("host", h.Name)
	s := &session{}
	policy := retry.Policy{Attempts: opt.Retries + 1, Delay: opt.Backoff,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			log.Info("transient error, retrying", "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		}}
	s.attempts, err = retry.Do(ctx, policy, func(int) (bool, time.Duration, error) {
		r, err := opt.Dialer.Dial(ctx, t)
		s.runner = r
		return remote.Transient(err), 0, err
	})
	if err != nil {
		s.runner = nil
	}
	return s, err
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
