package fleet

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unique"
	"weak"
)

// Kept results share their details: most hosts of a fleet report the same registry values, the
// same expected probe and much the same probe results, and a result is kept until the report is
// written. Under the fleet commands' memory limit the collector marks the kept results again and
// again (BENCHMARKS.md: every 25 MB of live heap at 10,000 hosts costs about 1.4 s of CPU), so
// dropHostState replaces each Settings and Probe by the one shared copy of its value.
//
// A shared copy is never modified (the report only reads it; drift marks checks, not their
// details) and is built fresh from the value, so a host's own object, which other parts of the
// run may still hold, is never written either. The table holds its copies weakly: once no result
// refers to a copy, the collector frees it and its entry goes.

var (
	sharedSettings = shareTable[settingsKey, Settings]{m: map[settingsKey]weak.Pointer[Settings]{}}
	sharedProbes   = shareTable[probeKey, Probe]{m: map[probeKey]weak.Pointer[Probe]{}}
)

// shareTable maps a value's key to its shared copy.
type shareTable[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[V]
}

// get returns the shared copy for k, made by build(k) when there is none (or it was collected).
func (t *shareTable[K, V]) get(k K, build func(K) *V) *V {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.m[k]; ok {
		if p := w.Value(); p != nil {
			return p
		}
	}
	p := build(k)
	w := weak.Make(p)
	t.m[k] = w
	runtime.AddCleanup(p, func(k K) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.m[k] == w {
			delete(t.m, k)
		}
	}, k)
	return p
}

// settingsKey is a Settings' reported value: every exported field (TestShareKeysCoverFields).
type settingsKey struct {
	Present                                    bool
	Source, Mode, Proxy, Bypass, AutoConfigURL string
	AutoDetect                                 bool
	Flags, Counter, Version                    uint32
	Raw, DecodeError, RegCompare               string
}

// sharedSettingsOf returns the shared copy of s's reported value (without the host's bytes).
func sharedSettingsOf(s *Settings) *Settings {
	k := settingsKey{Present: s.Present, Source: in(s.Source), Mode: in(s.Mode), Proxy: in(s.Proxy), Bypass: in(s.Bypass),
		AutoConfigURL: in(s.AutoConfigURL), AutoDetect: s.AutoDetect, Flags: s.Flags, Counter: s.Counter, Version: s.Version,
		Raw: in(s.Raw), DecodeError: in(s.DecodeError), RegCompare: in(s.RegCompare)}
	return sharedSettings.get(k, func(k settingsKey) *Settings {
		return &Settings{Present: k.Present, Source: k.Source, Mode: k.Mode, Proxy: k.Proxy, Bypass: k.Bypass,
			AutoConfigURL: k.AutoConfigURL, AutoDetect: k.AutoDetect, Flags: k.Flags, Counter: k.Counter,
			Version: k.Version, Raw: k.Raw, DecodeError: k.DecodeError, RegCompare: k.RegCompare}
	})
}

// probeKey is a Probe's value: every exported field (TestShareKeysCoverFields), the lists joined
// and TLS as 0 (unset), 1 (false) or 2 (true).
type probeKey struct {
	URL, Route      string
	Status          int
	Accepted        string // decimal, comma-separated
	Error           string
	Millis          int
	TLS             int8
	Subject, Issuer string
	ExpectedIssuers string // NUL-separated
	issuers         int    // the list's length: [""] joins to "" as no list does
}

// sharedProbeOf returns the shared copy of p's value.
func sharedProbeOf(p *Probe) *Probe {
	k := probeKey{URL: in(p.URL), Route: in(p.Route), Status: p.Status, Error: in(p.Error), Millis: p.Millis,
		Subject: in(p.Subject), Issuer: in(p.Issuer), issuers: len(p.ExpectedIssuers)}
	if len(p.Accepted) > 0 {
		var b []byte
		for i, a := range p.Accepted {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(a), 10)
		}
		k.Accepted = unique.Make(string(b)).Value()
	}
	if len(p.ExpectedIssuers) > 0 {
		k.ExpectedIssuers = in(strings.Join(p.ExpectedIssuers, "\x00"))
	}
	if p.TLS != nil {
		k.TLS = 1
		if *p.TLS {
			k.TLS = 2
		}
	}
	accepted, issuers := p.Accepted, p.ExpectedIssuers
	return sharedProbes.get(k, func(k probeKey) *Probe {
		s := &Probe{URL: k.URL, Route: k.Route, Status: k.Status, Error: k.Error, Millis: k.Millis,
			Subject: k.Subject, Issuer: k.Issuer, Accepted: slices.Clone(accepted), ExpectedIssuers: slices.Clone(issuers)}
		if k.TLS != 0 {
			tls := k.TLS == 2
			s.TLS = &tls
		}
		return s
	})
}

// in returns the canonical copy of s's text (unique.Make), "" as is.
func in(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

var (
	sharedSensors = shareTable[sensorKey, Sensor]{m: map[sensorKey]weak.Pointer[Sensor]{}}
	sharedRoutes  = shareTable[Route, Route]{m: map[Route]weak.Pointer[Route]{}}
)

// sensorKey is a Sensor's value: every exported field (TestShareKeysCoverFields), the services and
// configuration by value (has* says whether there is one) and the leftovers joined.
type sensorKey struct {
	Kind, Version    string
	Service, Updater Service
	hasSvc, hasUpd   bool
	MDEOnboarded     bool
	Config           SensorConfig
	hasConfig        bool
	Leftovers        string // NUL-separated
	leftovers        int    // the list's length
}

// sharedSensorOf returns the shared copy of s's value.
func sharedSensorOf(s *Sensor) *Sensor {
	k := sensorKey{Kind: in(s.Kind), Version: in(s.Version), MDEOnboarded: s.MDEOnboarded, leftovers: len(s.Leftovers)}
	if s.Service != nil {
		k.Service, k.hasSvc = internService(*s.Service), true
	}
	if s.Updater != nil {
		k.Updater, k.hasUpd = internService(*s.Updater), true
	}
	if c := s.Config; c != nil {
		k.Config, k.hasConfig = SensorConfig{Path: in(c.Path), Found: c.Found, Error: in(c.Error), ProxyURL: in(c.ProxyURL),
			ProxyUser: in(c.ProxyUser), Credentials: c.Credentials, Endpoint: in(c.Endpoint)}, true
	}
	if len(s.Leftovers) > 0 {
		k.Leftovers = in(strings.Join(s.Leftovers, "\x00"))
	}
	leftovers := s.Leftovers
	return sharedSensors.get(k, func(k sensorKey) *Sensor {
		c := &Sensor{Kind: k.Kind, Version: k.Version, MDEOnboarded: k.MDEOnboarded, Leftovers: slices.Clone(leftovers)}
		if k.hasSvc {
			svc := k.Service
			c.Service = &svc
		}
		if k.hasUpd {
			upd := k.Updater
			c.Updater = &upd
		}
		if k.hasConfig {
			cfg := k.Config
			c.Config = &cfg
		}
		return c
	})
}

func internService(s Service) Service {
	return Service{Name: in(s.Name), ImagePath: in(s.ImagePath), Account: in(s.Account), Start: in(s.Start)}
}

// sharedRouteOf returns the shared copy of r's value (a Route is its own key).
func sharedRouteOf(r *Route) *Route {
	k := Route{Source: in(r.Source), Proxy: in(r.Proxy), Decision: in(r.Decision), Unverified: r.Unverified,
		Instead: in(r.Instead), URL: in(r.URL)}
	return sharedRoutes.get(k, func(k Route) *Route { return &k })
}
