package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Kinds of generated hosts, each a situation dcproxy must report correctly.
const (
	KindHealthy       = "healthy"        // both service accounts carry the admin's proxy
	KindMissingSystem = "missing-system" // LOCAL_SYSTEM has no DefaultConnectionSettings
	KindDiffering     = "differing"      // LOCAL_SERVICE points at another (dead) proxy
	KindCounterOnly   = "counter-only"   // same settings, only the change counter differs
	KindPAC           = "pac"            // the reference uses a PAC URL, the service accounts copy it
	KindUnreachable   = "unreachable"    // connection refused
	KindBlackhole     = "blackhole"      // TCP accepted, never answered
	KindWrongPassword = "wrong-password" // the host's account has another password
	KindGerman        = "german"         // de-DE host, missing LOCAL_SERVICE value
)

// kinds in the order the first hosts cycle through them, so that any fleet of nine or more hosts
// holds every kind.
var kinds = []string{KindHealthy, KindMissingSystem, KindDiffering, KindCounterOnly, KindPAC, KindUnreachable, KindWrongPassword, KindGerman, KindBlackhole}

// weights of the kinds after the first cycle (out of 100).
var weights = map[string]int{KindHealthy: 55, KindMissingSystem: 10, KindDiffering: 6, KindCounterOnly: 10, KindPAC: 4,
	KindUnreachable: 3, KindWrongPassword: 3, KindGerman: 8, KindBlackhole: 1}

// Generated fleet defaults.
const (
	GenUser     = `LAB\auditor`
	GenPassword = "Lab-Passw0rd!"
	GenProxy    = "proxy.lab.test:8080"
	GenBypass   = "<local>;*.lab.test"
	GenPAC      = "http://wpad.lab.test/proxy.pac"
)

// Fleet mixes accepted by GenerateMix.
const (
	MixMixed   = "mixed"   // every kind, weighted as in Generate (the default)
	MixHealthy = "healthy" // every host KindHealthy: all reachable and compliant, for throughput benchmarks
)

// ErrUnknownMix is returned by GenerateMix for a mix it does not know.
var ErrUnknownMix = errors.New("unknown fleet mix")

// GenerateMix is Generate with a choice of mix: MixMixed is Generate itself, MixHealthy gives n
// healthy hosts (with the same names, sites and counters as the seed would give). An unknown mix
// returns an error wrapping ErrUnknownMix.
func GenerateMix(n int, seed uint64, mix string) (*Spec, []string, error) {
	switch mix {
	case "", MixMixed:
		s, k := generate(n, seed, false)
		return s, k, nil
	case MixHealthy:
		s, k := generate(n, seed, true)
		return s, k, nil
	}
	return nil, nil, fmt.Errorf("%w %q (want %s or %s)", ErrUnknownMix, mix, MixMixed, MixHealthy)
}

// Generate returns a reproducible mixed fleet of n hosts: the same n and seed give the same fleet.
// Kind reports each host's kind, for tests.
func Generate(n int, seed uint64) (*Spec, []string) { return generate(n, seed, false) }

func generate(n int, seed uint64, healthyOnly bool) (*Spec, []string) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t, f := true, false
	noIntercept := InterceptNone
	ok := map[string]string{GenProxy: "ok", "proxy-old.lab.test:3128": "down"}
	good := &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: 7}
	s := &Spec{Defaults: HostSpec{
		User: GenUser, Password: GenPassword, Locale: "en-US", HTTPS: &f,
		Registry: RegistrySpec{CurrentUser: good, LocalSystem: good, LocalService: good, WinHTTP: &Hive{Absent: true}},
		Network:  NetworkSpec{Direct: &f, Proxies: ok, EndpointStatus: 503, TLSIntercept: &noIntercept},
	}}
	width := len(fmt.Sprint(n))
	if width < 2 {
		width = 2
	}
	var out []string
	for i := 0; i < n; i++ {
		kind := ""
		if i < len(kinds) {
			kind = kinds[i]
		} else {
			x := r.IntN(100)
			for _, k := range kinds {
				if x < weights[k] {
					kind = k
					break
				}
				x -= weights[k]
			}
		}
		if healthyOnly {
			kind = KindHealthy
		}
		h := HostSpec{Name: fmt.Sprintf("dc%0*d.lab.test", width, i+1), Site: []string{"hq", "branch-east", "branch-west"}[i%3]}
		counter := uint32(3 + r.IntN(40))
		switch kind {
		case KindHealthy:
			v := &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: counter}
			h.Registry = RegistrySpec{CurrentUser: v, LocalSystem: v, LocalService: v}
		case KindMissingSystem:
			h.Registry = RegistrySpec{LocalSystem: &Hive{Absent: true}}
		case KindDiffering:
			h.Registry = RegistrySpec{LocalService: &Hive{Proxy: "proxy-old.lab.test:3128", Bypass: "<local>", Counter: counter}}
		case KindCounterOnly:
			h.Registry = RegistrySpec{
				CurrentUser:  &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: counter + 5},
				LocalSystem:  &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: counter},
				LocalService: &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: counter + 1},
			}
		case KindPAC:
			v := &Hive{AutoConfigURL: GenPAC, Counter: counter}
			pac := GenProxy
			h.Registry = RegistrySpec{CurrentUser: v, LocalSystem: v, LocalService: v}
			h.Network.PACProxy = &pac
		case KindUnreachable:
			h.Fault = FaultRefuse
		case KindBlackhole:
			h.Fault = FaultBlackhole
		case KindWrongPassword:
			h.Password = "another-password"
		case KindGerman:
			h.Locale = "de-DE"
			h.Registry = RegistrySpec{LocalService: &Hive{Absent: true}}
		}
		_ = t
		s.Hosts = append(s.Hosts, h)
		out = append(out, kind)
	}
	return s, out
}
