package fleet

import (
	"strings"
	"testing"
	"unsafe"
)

// TestDropHostStateSharesText: after dropHostState two results of equal content share their text
// (one copy in memory for the whole fleet), keep every value, and hold no bytes from the host.
func TestDropHostStateSharesText(t *testing.T) {
	mk := func() *HostResult {
		// strings.Clone: distinct backing arrays, as two hosts' results have.
		c := strings.Clone
		set := &Settings{Present: true, Source: c(`HKU\S-1-5-18\Software`), Mode: c("proxy"), Proxy: c("proxy.lab.test:8080"),
			Raw: c("4600000018000000"), bytes: []byte{0x46}, read: true}
		pr := &Probe{URL: c("https://x.atp.azure.com/tri/sensor/api/ping"), Route: c("proxy proxy.lab.test:8080"), Issuer: c("CN=Microsoft")}
		checks := append(make([]Check, 0, 24), Check{ID: "registry.local_system", Message: c("matches the reference"), Actual: set},
			Check{ID: "endpoint", Actual: pr})
		return &HostResult{
			Checks:      checks,
			SavedLegacy: map[string]*Settings{"LOCAL_SYSTEM": {Raw: c("4600000018000000"), bytes: []byte{1}, read: true}},
			Route:       &Route{Decision: c("no sensor yet")},
			state:       &hostState{},
		}
	}
	a, b := mk(), mk()
	if unsafe.StringData(a.Checks[0].Message) == unsafe.StringData(b.Checks[0].Message) {
		t.Fatal("test setup: the two results already share their text")
	}
	a.dropHostState()
	b.dropHostState()
	same := func(what, x, y string) {
		t.Helper()
		if x != y || unsafe.StringData(x) != unsafe.StringData(y) {
			t.Errorf("%s: %q and %q not shared", what, x, y)
		}
	}
	sa, sb := a.Checks[0].Actual.(*Settings), b.Checks[0].Actual.(*Settings)
	same("message", a.Checks[0].Message, b.Checks[0].Message)
	same("source", sa.Source, sb.Source)
	same("proxy", sa.Proxy, sb.Proxy)
	same("raw", sa.Raw, sb.Raw)
	same("saved raw", a.SavedLegacy["LOCAL_SYSTEM"].Raw, sa.Raw)
	same("probe route", a.Checks[1].Actual.(*Probe).Route, b.Checks[1].Actual.(*Probe).Route)
	same("issuer", a.Checks[1].Actual.(*Probe).Issuer, b.Checks[1].Actual.(*Probe).Issuer)
	same("decision", a.Route.Decision, b.Route.Decision)
	if sa.Proxy != "proxy.lab.test:8080" || a.Checks[0].Message != "matches the reference" {
		t.Errorf("values changed: %+v", sa)
	}
	if len(a.Checks) != 2 || cap(a.Checks) != 2 || a.Checks[1].ID != "endpoint" {
		t.Errorf("checks: %d of capacity %d, want the 2 without spare capacity", len(a.Checks), cap(a.Checks))
	}
	if sa.bytes != nil || sa.read || a.SavedLegacy["LOCAL_SYSTEM"].bytes != nil || a.state != nil {
		t.Error("host bytes kept")
	}
}
