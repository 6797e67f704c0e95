package report

import (
	"encoding/json"
	"os"
	"sync"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
)

var fixtureBytes = sync.OnceValues(func() ([]byte, error) { return os.ReadFile(fixtureFile) })

// fixture is the report of a real audit and fix of the lab fleet (fixture_gen_test.go), read from
// testdata/fixture.json: a fresh copy on every call, decoded the way any reader of a saved report
// decodes it.
func fixture() *fleet.Report {
	b, err := fixtureBytes()
	if err != nil {
		panic("read " + fixtureFile + " (go test ./report -run TestFixtureGen -update-fixture): " + err.Error())
	}
	var rep fleet.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		panic(fixtureFile + ": " + err.Error())
	}
	return &rep
}

// host returns the fixture host named name (the fixture's hosts are found by name, never by
// position, so a regenerated fixture cannot silently shift what a test looks at).
func host(t testing.TB, rep *fleet.Report, name string) *fleet.HostResult {
	t.Helper()
	for i := range rep.Hosts {
		if rep.Hosts[i].Host == name {
			return &rep.Hosts[i]
		}
	}
	t.Fatalf("fixture has no host %s", name)
	return nil
}

// check returns the check id of host h.
func check(t testing.TB, h *fleet.HostResult, id string) *fleet.Check {
	t.Helper()
	for i := range h.Checks {
		if h.Checks[i].ID == id {
			return &h.Checks[i]
		}
	}
	t.Fatalf("%s has no check %s", h.Host, id)
	return nil
}

// Hand-made values (no audit produces them): inputs of unit tests and of the fuzz target, where a
// field is set to exactly what the test needs.

const rawRef = "460000000700000003000000" + "0a00000070726f78793a38303830" + "070000003c6c6f63616c3e" + "00000000"

// reference is a declared reference proxy (proxy:8080, bypass <local>).
func reference() *fleet.Settings {
	return &fleet.Settings{Present: true, Source: "config", Mode: "proxy", Proxy: "proxy:8080", Bypass: "<local>",
		Flags: 0x03, Version: 0x46, Counter: 7, Raw: rawRef}
}

func expectProbe() *fleet.Probe {
	return &fleet.Probe{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Accepted: []int{200, 503}}
}
