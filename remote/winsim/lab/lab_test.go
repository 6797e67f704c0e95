package lab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestStartGeneratedFleetAnswers starts a generated fleet (1000 hosts; 300 under -short) on free
// ports of a private loopback range and checks that WaitReady returns and that every host answers
// one TCP connect the way its kind says: accepted, or refused for an unreachable host.
func TestStartGeneratedFleetAnswers(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	raiseNoFile(t, uint64(3*n+256))
	spec, kinds := Generate(n, 42)
	l, err := Start(spec, Options{FirstAddress: netip.MustParseAddr("127.96.0.1"), HTTPPort: 0, HTTPSPort: 0})
	if err != nil {
		t.Fatalf("Start(%d hosts): %v", n, err)
	}
	t.Cleanup(l.Close)
	if len(l.Members) != n {
		t.Fatalf("%d members, want %d", len(l.Members), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	seen := map[string]bool{}
	var d net.Dialer
	for i, m := range l.Members {
		if seen[m.Endpoint()] {
			t.Fatalf("host %d (%s): endpoint %s used twice", i, m.Spec.Name, m.Endpoint())
		}
		seen[m.Endpoint()] = true
		if !netip.MustParseAddr(m.Address).IsLoopback() {
			t.Fatalf("host %d: address %s is not loopback", i, m.Address)
		}
		c, err := d.DialContext(ctx, "tcp4", m.Endpoint())
		switch {
		case kinds[i] == KindUnreachable:
			if err == nil {
				_ = c.Close()
				t.Errorf("host %d (%s, %s): connect succeeded, want refused", i, m.Spec.Name, kinds[i])
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("host %d (%s, %s): %v, want connection refused", i, m.Spec.Name, kinds[i], err)
			}
		case err != nil:
			t.Errorf("host %d (%s, %s): connect: %v", i, m.Spec.Name, kinds[i], err)
		default:
			_ = c.Close()
		}
	}
}

// TestGenerateMix: the healthy mix has only healthy hosts, the default is Generate, others fail.
func TestGenerateMix(t *testing.T) {
	_, mixed := Generate(200, 3)
	for _, tc := range []struct {
		mix  string
		want func(i int, kind string) bool
	}{
		{MixHealthy, func(_ int, k string) bool { return k == KindHealthy }},
		{MixMixed, func(i int, k string) bool { return k == mixed[i] }},
		{"", func(i int, k string) bool { return k == mixed[i] }},
	} {
		spec, kinds, err := GenerateMix(200, 3, tc.mix)
		if err != nil || len(kinds) != 200 || len(spec.Hosts) != 200 {
			t.Fatalf("GenerateMix(%q) = %d kinds, %v", tc.mix, len(kinds), err)
		}
		for i, k := range kinds {
			if !tc.want(i, k) {
				t.Fatalf("GenerateMix(%q): host %d is %s", tc.mix, i, k)
			}
			if tc.mix == MixHealthy && (spec.Hosts[i].Fault != "" || spec.Hosts[i].Password != "") {
				t.Fatalf("healthy host %d has fault %q / own password", i, spec.Hosts[i].Fault)
			}
		}
	}
	if _, _, err := GenerateMix(5, 1, "chaos"); !errors.Is(err, ErrUnknownMix) {
		t.Errorf("GenerateMix(chaos) error = %v, want ErrUnknownMix", err)
	}
}
