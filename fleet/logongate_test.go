package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
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
		if r.Status != StatusError || r.Error == nil || r.Error.Kind != ErrorKindAuth {
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
		if r.Error == nil || r.Error.Kind != ErrorKindUnreachable {
			t.Fatalf("%s: %+v", r.Host, r.Error)
		}
	}
}

// blackholes are listeners that accept TCP and never answer (a host behind a stateful device that
// drops everything after the handshake). They count the connections open at once; when want of
// them are open together, every connection is closed (the hosts get an error at once) so that the
// test never waits for a timeout when the engine behaves.
type blackholes struct {
	mu        sync.Mutex
	open      []net.Conn
	maxOpen   int
	want      int
	released  bool
	listeners []net.Listener
}

func startBlackholes(t *testing.T, n int) (*blackholes, []string) {
	t.Helper()
	b := &blackholes{want: n}
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b.listeners = append(b.listeners, ln)
		addrs = append(addrs, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				b.accepted(c)
			}
		}()
	}
	t.Cleanup(func() {
		for _, ln := range b.listeners {
			_ = ln.Close()
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.open {
			_ = c.Close()
		}
	})
	return b, addrs
}

func (b *blackholes) accepted(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		_ = c.Close()
		return
	}
	b.open = append(b.open, c)
	b.maxOpen = max(b.maxOpen, len(b.open))
	if len(b.open) == b.want {
		b.released = true
		for _, c := range b.open {
			_ = c.Close()
		}
		b.open = nil
	}
}

// countRefusals counts the logons a dialer's hosts refused (not the ones the gate held back).
type refusalCounter struct {
	remote.Dialer
	refused atomic.Int32
}

func (d *refusalCounter) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	r, err := d.Dialer.Dial(ctx, t)
	if errors.Is(err, remote.ErrAuth) && !errors.Is(err, remote.ErrNotAttempted) {
		d.refused.Add(1)
	}
	return r, err
}

func (d *refusalCounter) CallsBeforeLogon() bool { return true }

// Issue 13: the gate must hold only the exchange that carries credentials. Blackholed hosts
// (TCP accepted, never answered) never get that far, so all of them are connected at once; a
// wrong password is still refused by at most the limit.
func TestAudit_gateHoldsOnlyTheLogon(t *testing.T) {
	const nBlack, nWrong = 12, 8
	bh, addrs := startBlackholes(t, nBlack)
	spec := "defaults:\n  user: 'LAB\\auditor'\n  password: 'not-the-lab-password'\nhosts:\n"
	for i := range nWrong {
		spec += fmt.Sprintf("  - name: wrong%02d\n", i)
	}
	l, wrong := startSpec(t, spec, "127.99.0.1")
	_ = l
	var hosts []inventory.Host
	for i, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("black%02d", i), Address: host, Port: p})
	}
	hosts = append(hosts, wrong...) // the blackholed hosts first: with a gate around the whole dial they took every slot
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, User: lab.GenUser, Password: lab.GenPassword, Timeout: 30 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	d := &refusalCounter{Dialer: winrmclient.Dialer{}}
	rep := Audit(context.Background(), hosts, Options{Concurrency: nBlack + nWrong, HostTimeout: 30 * time.Second,
		Dialer: d, Target: target, Probe: ProbeOptions{Disabled: true}})
	bh.mu.Lock()
	maxOpen := bh.maxOpen
	bh.mu.Unlock()
	if maxOpen != nBlack {
		t.Errorf("at most %d blackholed hosts were connected at once, want all %d (the gate must not hold hosts that never got to authenticate)", maxOpen, nBlack)
	}
	if n := d.refused.Load(); n != DefaultAuthFailureLimit {
		t.Errorf("%d hosts refused the account, want exactly the limit %d", n, DefaultAuthFailureLimit)
	}
	notAttempted := 0
	for _, r := range rep.Hosts {
		switch {
		case strings.HasPrefix(r.Host, "black"):
			if r.Error == nil || r.Error.Kind == ErrorKindAuth {
				t.Errorf("%s: %+v, want a transport error of its own", r.Host, r.Error)
			}
		case r.Error == nil || r.Error.Kind != ErrorKindAuth:
			t.Errorf("%s: %+v, want auth", r.Host, r.Error)
		case strings.Contains(r.Error.Message, "not attempted"):
			notAttempted++
		}
	}
	if notAttempted != nWrong-DefaultAuthFailureLimit {
		t.Errorf("%d wrong-password hosts not attempted, want %d", notAttempted, nWrong-DefaultAuthFailureLimit)
	}
}
