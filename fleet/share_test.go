package fleet

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestShareKeysCoverFields: the share keys carry every exported field of Settings and Probe, so
// two values that differ in any reported field never share a copy.
func TestShareKeysCoverFields(t *testing.T) {
	for _, tc := range []struct{ value, key reflect.Type }{
		{reflect.TypeFor[Settings](), reflect.TypeFor[settingsKey]()},
		{reflect.TypeFor[Probe](), reflect.TypeFor[probeKey]()},
		{reflect.TypeFor[Sensor](), reflect.TypeFor[sensorKey]()},
		{reflect.TypeFor[SensorConfig](), reflect.TypeFor[SensorConfig]()},
		{reflect.TypeFor[Service](), reflect.TypeFor[Service]()},
	} {
		for f := range tc.value.Fields() {
			if !f.IsExported() {
				continue
			}
			if _, ok := tc.key.FieldByName(f.Name); !ok {
				t.Errorf("%s.%s is not in %s", tc.value.Name(), f.Name, tc.key.Name())
			}
		}
	}
}

// TestSharedDetailsEqualAndUntouched: equal Settings and Probes of two hosts end up as one copy
// equal to them (without the host's bytes); any field that differs gives another copy; and the
// hosts' own objects are left as they were (other parts of a run may still hold them).
func TestSharedDetailsEqualAndUntouched(t *testing.T) {
	c := strings.Clone
	yes, no := true, false
	mkSet := func() *Settings {
		return &Settings{Present: true, Source: c(`HKU\S-1-5-18\Software`), Mode: c("proxy"), Proxy: c("proxy.lab.test:8080"),
			Bypass: c("<local>"), Flags: 3, Counter: 7, Version: 1, Raw: c("4600000018000000"), RegCompare: c("identical"),
			bytes: []byte{0x46}, read: true}
	}
	mkProbe := func() *Probe {
		return &Probe{URL: c("https://x.atp.azure.com/tri/sensor/api/ping"), Route: c("proxy proxy.lab.test:8080"), Status: 200,
			Accepted: []int{200, 503}, Millis: 512, TLS: &yes, Subject: c("CN=x"), Issuer: c("CN=Microsoft"), ExpectedIssuers: []string{"Microsoft"}}
	}
	s1, s2 := mkSet(), mkSet()
	p1, p2 := mkProbe(), mkProbe()
	a, b := sharedSettingsOf(s1), sharedSettingsOf(s2)
	if a != b {
		t.Fatal("equal Settings got two copies")
	}
	want := *mkSet()
	want.bytes, want.read = nil, false
	if !reflect.DeepEqual(*a, want) {
		t.Errorf("shared Settings %+v, want %+v", *a, want)
	}
	if a == s1 || s1.bytes == nil || !s1.read {
		t.Error("the host's own Settings was shared or changed")
	}
	pa, pb := sharedProbeOf(p1), sharedProbeOf(p2)
	if pa != pb || pa == p1 || !reflect.DeepEqual(*pa, *mkProbe()) {
		t.Errorf("probes: shared %v, copy %+v", pa == pb, *pa)
	}
	p1.Accepted[0] = 201
	if pa.Accepted[0] != 200 {
		t.Error("the shared copy aliases a host's list")
	}
	p1.Accepted[0] = 200

	// Every field that differs gives another copy.
	for name, mut := range map[string]func(*Settings){
		"present": func(s *Settings) { s.Present = false }, "source": func(s *Settings) { s.Source = "x" },
		"mode": func(s *Settings) { s.Mode = "direct" }, "proxy": func(s *Settings) { s.Proxy = "p:1" },
		"bypass": func(s *Settings) { s.Bypass = "" }, "pac": func(s *Settings) { s.AutoConfigURL = "http://w/p.pac" },
		"autodetect": func(s *Settings) { s.AutoDetect = true }, "flags": func(s *Settings) { s.Flags = 9 },
		"counter": func(s *Settings) { s.Counter = 8 }, "version": func(s *Settings) { s.Version = 2 },
		"raw": func(s *Settings) { s.Raw = "00" }, "decode": func(s *Settings) { s.DecodeError = "short" },
		"regcompare": func(s *Settings) { s.RegCompare = "different" },
	} {
		s := mkSet()
		mut(s)
		if sharedSettingsOf(s) == a {
			t.Errorf("Settings differing in %s share the copy", name)
		}
	}
	for name, mut := range map[string]func(*Probe){
		"url": func(p *Probe) { p.URL = "https://y" }, "route": func(p *Probe) { p.Route = "direct" },
		"status": func(p *Probe) { p.Status = 503 }, "accepted": func(p *Probe) { p.Accepted = []int{200} },
		"accepted order": func(p *Probe) { p.Accepted = []int{503, 200} }, "error": func(p *Probe) { p.Error = "Timeout" },
		"ms": func(p *Probe) { p.Millis = 513 }, "tls false": func(p *Probe) { p.TLS = &no }, "tls unset": func(p *Probe) { p.TLS = nil },
		"subject": func(p *Probe) { p.Subject = "CN=y" }, "issuer": func(p *Probe) { p.Issuer = "CN=z" },
		"issuers":              func(p *Probe) { p.ExpectedIssuers = []string{"DigiCert"} },
		"issuers empty string": func(p *Probe) { p.ExpectedIssuers = []string{""} },
		"issuers none":         func(p *Probe) { p.ExpectedIssuers = nil },
	} {
		p := mkProbe()
		mut(p)
		if sharedProbeOf(p) == pa {
			t.Errorf("Probes differing in %s share the copy", name)
		}
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(pa)
}

// TestShareTableForgetsCollectedCopies: once no result refers to a shared copy, the collector frees
// it and its entry leaves the table (the table does not grow run after run). It counts only its own
// entries: other tests' garbage leaves the table whenever a collection happens to run.
func TestShareTableForgetsCollectedCopies(t *testing.T) {
	mine := func() int {
		sharedSettings.mu.Lock()
		defer sharedSettings.mu.Unlock()
		n := 0
		for k := range sharedSettings.m {
			if strings.HasSuffix(k.Raw, "forget-me") {
				n++
			}
		}
		return n
	}
	held := make([]*Settings, 0, 100)
	for i := range 100 {
		held = append(held, sharedSettingsOf(&Settings{Present: true, Raw: strings.Repeat("ab", i+1) + "forget-me"}))
	}
	runtime.GC() // held copies survive a collection
	if n := mine(); n != 100 {
		t.Fatalf("table has %d of the 100 held copies", n)
	}
	runtime.KeepAlive(held)
	// Cleanups run in the background after a collection: collect until they have (bounded).
	for i := 0; i < 50 && mine() > 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := mine(); n > 0 {
		t.Errorf("%d entries left after the copies became garbage, want 0", n)
	}
}

// TestSharedSensorAndRoute: equal Sensors (with services, configuration and leftovers) and Routes
// of two hosts share one copy equal to them; a different leftover, service start, configuration or
// decision gives another; the copy holds no list of a host's.
func TestSharedSensorAndRoute(t *testing.T) {
	mk := func() *Sensor {
		return &Sensor{Kind: SensorMigrated, Version: "2.250", MDEOnboarded: true,
			Service:   &Service{Name: "AATPSensor", ImagePath: `"C:\x\Microsoft.Tri.Sensor.exe"`, Account: `NT AUTHORITY\LocalService`, Start: "disabled"},
			Updater:   &Service{Name: "AATPSensorUpdater", Start: "disabled"},
			Config:    &SensorConfig{Path: `C:\x\SensorConfiguration.json`, Found: true, ProxyURL: "http://p:8080", Endpoint: "x.atp.azure.com"},
			Leftovers: []string{"v2 service AATPSensor (disabled)", "stale SensorConfiguration.json proxy http://p:8080"}}
	}
	a, b := sharedSensorOf(mk()), sharedSensorOf(mk())
	if a != b || !reflect.DeepEqual(*a, *mk()) {
		t.Fatalf("sensors: shared %v, copy %+v", a == b, *a)
	}
	for name, mut := range map[string]func(*Sensor){
		"leftover":  func(s *Sensor) { s.Leftovers = s.Leftovers[:1] },
		"start":     func(s *Sensor) { s.Service.Start = "auto" },
		"no svc":    func(s *Sensor) { s.Updater = nil },
		"config":    func(s *Sensor) { s.Config.Credentials = true },
		"no config": func(s *Sensor) { s.Config = nil },
		"kind":      func(s *Sensor) { s.Kind = SensorV3 },
	} {
		s := mk()
		mut(s)
		if sharedSensorOf(s) == a {
			t.Errorf("Sensors differing in %s share the copy", name)
		}
	}
	r1 := &Route{Source: RouteWinINet, Decision: "v2 without a JSON proxy", URL: "https://x"}
	r2 := *r1
	if sharedRouteOf(r1) != sharedRouteOf(&r2) || sharedRouteOf(r1) == r1 {
		t.Error("equal routes do not share one fresh copy")
	}
	r2.Unverified = true
	if sharedRouteOf(r1) == sharedRouteOf(&r2) {
		t.Error("routes differing in Unverified share the copy")
	}
}
