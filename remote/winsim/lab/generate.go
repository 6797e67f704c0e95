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
	// The kinds above have no sensor (sensor kind none: the readiness check). The kinds below have
	// one (issue 9).
	KindV2JSONProxy = "v2-json-proxy" // v2 sensor with its own proxy in SensorConfiguration.json, WinINet values absent
	KindV2WinINet   = "v2-wininet"    // v2 sensor without a JSON proxy: the service accounts' WinINet values (good)
	KindV3Static    = "v3-static"     // v3 sensor, MDE static proxy with DisableEnterpriseAuthProxy=1
	KindV3AuthProxy = "v3-auth-proxy" // v3 sensor, MDE static proxy without DisableEnterpriseAuthProxy
	KindMigrated    = "migrated"      // v3 sensor with the v2 services (disabled) and JSON left behind
	KindV2Proxy407  = "v2-proxy-407"  // v2 JSON proxy that wants authentication; the sensor has credentials configured
	KindV2Proxy401  = "v2-proxy-401"  // v2 JSON proxy that answers 401 instead of 407 (the sensor's "licensing" error)
	KindMissingRoot = "missing-root"  // v2 JSON proxy, DigiCert Global Root G2 missing: TrustFailure
	KindTLSOff      = "tls-off"       // v2 JSON proxy, SchUseStrongCrypto/SystemDefaultTlsVersions absent
)

// kinds in the order the first hosts cycle through them, so that any fleet of len(kinds) (DemoHosts)
// or more hosts holds every kind. The first nine are the fleets of before issue 9, in the same order.
var kinds = []string{KindHealthy, KindMissingSystem, KindDiffering, KindCounterOnly, KindPAC, KindUnreachable, KindWrongPassword, KindGerman, KindBlackhole,
	KindV2JSONProxy, KindV2WinINet, KindV3Static, KindV3AuthProxy, KindMigrated, KindV2Proxy407, KindV2Proxy401, KindMissingRoot, KindTLSOff}

// DemoHosts is the smallest generated fleet that holds every kind (the demo fleet).
const DemoHosts = 18

// weights of the kinds after the first cycle (out of 100).
var weights = map[string]int{KindHealthy: 39, KindMissingSystem: 8, KindDiffering: 5, KindCounterOnly: 8, KindPAC: 3,
	KindUnreachable: 3, KindWrongPassword: 2, KindGerman: 6, KindBlackhole: 1,
	KindV2JSONProxy: 8, KindV2WinINet: 5, KindV3Static: 5, KindV3AuthProxy: 1, KindMigrated: 2, KindV2Proxy407: 1, KindV2Proxy401: 1,
	KindMissingRoot: 1, KindTLSOff: 1}

// Generated fleet defaults.
const (
	GenUser     = `LAB\auditor`
	GenPassword = "Lab-Passw0rd!"
	GenProxy    = "proxy.lab.test:8080"
	GenBypass   = "<local>;*.lab.test"
	GenPAC      = "http://wpad.lab.test/proxy.pac"
	// GenAuthProxy wants authentication (407); GenProxy401 answers 401 instead.
	GenAuthProxy = "proxy-auth.lab.test:8080"
	GenProxy401  = "proxy-401.lab.test:8080"
	// GenProxyUser is the user name configured for GenAuthProxy in the v2 sensor's JSON.
	GenProxyUser = `LAB\svc-mdi-proxy`
	// GenEndpointVersion is what the generated fleet's sensor API ping answers (200) to v2 hosts.
	GenEndpointVersion = DefaultSensorVersion
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
	ok := map[string]string{GenProxy: "ok", "proxy-old.lab.test:3128": "down", GenAuthProxy: "auth_required", GenProxy401: "unauthorized_401"}
	good := &Hive{Proxy: GenProxy, Bypass: GenBypass, Counter: 7}
	s := &Spec{Defaults: HostSpec{
		User: GenUser, Password: GenPassword, Locale: "en-US", HTTPS: &f,
		Registry: RegistrySpec{CurrentUser: good, LocalSystem: good, LocalService: good, WinHTTP: &Hive{Absent: true}},
		Network:  NetworkSpec{Direct: &f, Proxies: ok, EndpointStatus: 503, TLSIntercept: &noIntercept},
	}}
	version := GenEndpointVersion
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
		case KindV2JSONProxy, KindV2Proxy407, KindV2Proxy401, KindMissingRoot, KindTLSOff:
			proxy := "http://" + GenProxy
			v2 := &SensorSpec{Kind: SensorV2, Version: DefaultSensorVersion, Workspace: DefaultWorkspace, Proxy: &proxy}
			// The sensor uses its JSON proxy: the service accounts carry no WinINet value.
			h.Registry = RegistrySpec{LocalSystem: &Hive{Absent: true}, LocalService: &Hive{Absent: true}}
			switch kind {
			case KindV2Proxy407:
				p := "http://" + GenAuthProxy
				v2.Proxy, v2.ProxyUser = &p, GenProxyUser
			case KindV2Proxy401:
				p := "http://" + GenProxy401
				v2.Proxy = &p
			case KindMissingRoot:
				h.Machine.Roots = &[]string{"digicert_global_root_ca"}
			case KindTLSOff:
				h.Machine.StrongCrypto = &f
			}
			h.Sensor = v2
			h.Network.EndpointVersion = &version
		case KindV2WinINet:
			h.Sensor = &SensorSpec{Kind: SensorV2, Version: DefaultSensorVersion, Workspace: DefaultWorkspace}
			h.Network.EndpointVersion = &version
		case KindV3Static, KindV3AuthProxy, KindMigrated:
			h.Sensor = &SensorSpec{Kind: SensorV3, Workspace: DefaultWorkspace}
			mde := &MDEProxySpec{Server: GenProxy, DisableEnterpriseAuthProxy: &t}
			switch kind {
			case KindV3AuthProxy:
				mde.DisableEnterpriseAuthProxy = nil
			case KindMigrated:
				proxy := "http://" + GenProxy
				h.Sensor = &SensorSpec{Kind: SensorMigrated, Version: DefaultSensorVersion, Workspace: DefaultWorkspace, Proxy: &proxy}
			}
			h.Machine.MDEProxy = mde
			// WinINet of the service accounts does not apply to v3; leave it absent.
			h.Registry = RegistrySpec{LocalSystem: &Hive{Absent: true}, LocalService: &Hive{Absent: true}}
		}
		s.Hosts = append(s.Hosts, h)
		out = append(out, kind)
	}
	return s, out
}
