package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
)

// countingDialer refuses every logon as user bad, counts dials, and tracks the most in flight.
type countingDialer struct {
	dials, inflight, maxInflight atomic.Int32
}

func (d *countingDialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	d.dials.Add(1)
	n := d.inflight.Add(1)
	defer d.inflight.Add(-1)
	for {
		m := d.maxInflight.Load()
		if n <= m || d.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond) // let concurrent dials overlap
	if t.User == "bad" {
		return nil, fmt.Errorf("%w: http 401", remote.ErrAuth)
	}
	return nil, fmt.Errorf("%w: refused", remote.ErrProtocol)
}

func TestAudit_wrongPasswordStopsBeforeLockout(t *testing.T) {
	var hosts []inventory.Host
	for i := range 40 {
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("dc%02d", i), Address: fmt.Sprintf("10.0.0.%d", i)})
	}
	d := &countingDialer{}
	target := func(h inventory.Host) (remote.Target, error) { return remote.Target{Host: h.Address, User: "bad"}, nil }
	rep := Audit(context.Background(), hosts, Options{Concurrency: 20, Dialer: d, Target: target})
	if got := d.dials.Load(); got != DefaultAuthFailureLimit {
		t.Fatalf("%d logons with a refused account, want %d", got, DefaultAuthFailureLimit)
	}
	if m := d.maxInflight.Load(); m > DefaultAuthFailureLimit {
		t.Fatalf("%d unverified logons at once, want at most %d", m, DefaultAuthFailureLimit)
	}
	notTried := 0
	for _, r := range rep.Hosts {
		if r.Status != StatusError || r.Error == nil || r.Error.Kind != "auth" {
			t.Fatalf("%s: %+v", r.Host, r.Error)
		}
		if strings.Contains(r.Error.Message, "not attempted") {
			notTried++
		}
	}
	if notTried != 40-DefaultAuthFailureLimit {
		t.Fatalf("%d hosts not attempted, want %d", notTried, 40-DefaultAuthFailureLimit)
	}
}

func TestAudit_verifiedAccountIsNotGated(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.5.1")
	// Host 0 logs on fine (concurrency 1: it goes first); then every other host refuses the verified
	// account: those are host problems, and every host is still tried.
	var refusals atomic.Int32
	d := fakeDialer{}
	for i, m := range l.Members {
		d[m.Address] = func(ctx context.Context) (remote.Runner, error) {
			if i == 0 {
				return simRunner{h: m.Host, user: m.User}, nil
			}
			refusals.Add(1)
			return nil, fmt.Errorf("%w: http 401", remote.ErrAuth)
		}
	}
	rep := Audit(context.Background(), hosts, Options{Concurrency: 1, Dialer: d, Target: targetOf, Probe: ProbeOptions{Disabled: true}})
	if int(refusals.Load()) != len(hosts)-1 {
		t.Fatalf("%d hosts tried after the account was verified, want %d", refusals.Load(), len(hosts)-1)
	}
	if rep.Hosts[0].Status == StatusError {
		t.Fatalf("first host: %+v", rep.Hosts[0].Error)
	}
}

func TestLogonGate_negativeLimitDisables(t *testing.T) {
	var hosts []inventory.Host
	for i := range 10 {
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("dc%02d", i), Address: fmt.Sprintf("10.0.1.%d", i)})
	}
	d := &countingDialer{}
	target := func(h inventory.Host) (remote.Target, error) { return remote.Target{Host: h.Address, User: "bad"}, nil }
	Audit(context.Background(), hosts, Options{Concurrency: 5, Dialer: d, Target: target, AuthFailureLimit: -1})
	if d.dials.Load() != 10 {
		t.Fatalf("dials %d, want every host with the protection off", d.dials.Load())
	}
}

// unreachableDialer fails every dial before authentication.
type unreachableDialer struct{ dials atomic.Int32 }

func (d *unreachableDialer) Dial(context.Context, remote.Target) (remote.Runner, error) {
	d.dials.Add(1)
	return nil, fmt.Errorf("%w: connection refused", remote.ErrUnreachable)
}

func TestAudit_unreachableHostsAreNotRefusals(t *testing.T) {
	var hosts []inventory.Host
	for i := range 30 {
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("dc%02d", i), Address: fmt.Sprintf("10.0.2.%d", i)})
	}
	d := &unreachableDialer{}
	target := func(h inventory.Host) (remote.Target, error) { return remote.Target{Host: h.Address, User: "u"}, nil }
	rep := Audit(context.Background(), hosts, Options{Concurrency: 10, Dialer: d, Target: target})
	if d.dials.Load() != 30 {
		t.Fatalf("dials %d: unreachable hosts must not stop the account", d.dials.Load())
	}
	for _, r := range rep.Hosts {
		if r.Error == nil || r.Error.Kind != "unreachable" {
			t.Fatalf("%s: %+v", r.Host, r.Error)
		}
	}
}
