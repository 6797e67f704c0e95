package report

import (
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
)

// Who acts: the audit's Actor field wins; without it the label is derived from kind and status.
func TestActors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    fleet.Check
		want string
	}{
		{"pass", fleet.Check{Kind: fleet.KindRegCompare, Status: fleet.CheckPass}, ""},
		{"info", fleet.Check{Kind: fleet.KindInfo, Status: fleet.CheckInfo}, ""},
		{"registry fail", fleet.Check{Kind: fleet.KindRegCompare, Status: fleet.CheckFail}, fleet.ActorFix},
		{"endpoint fail", fleet.Check{Kind: fleet.KindEndpoint, Status: fleet.CheckFail}, fleet.ActorProxy},
		{"tls fail", fleet.Check{Kind: fleet.KindTLS, Status: fleet.CheckFail}, fleet.ActorSensor},
		{"sensor warn", fleet.Check{Kind: fleet.KindSensor, Status: fleet.CheckWarn}, fleet.ActorSensor},
		{"check error", fleet.Check{Kind: fleet.KindEndpoint, Status: fleet.CheckError}, fleet.ActorHost},
		{"field wins", fleet.Check{Kind: fleet.KindRegCompare, Status: fleet.CheckFail, Actor: fleet.ActorSensor}, fleet.ActorSensor},
	} {
		if got := checkActor(nil, &tc.c); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// An endpoint failing for an account whose value is missing is the fix's, not the proxy's.
	h := &fleet.HostResult{Checks: []fleet.Check{
		{Kind: fleet.KindRegCompare, Account: fleet.AccountLocalSystem, Status: fleet.CheckFail},
		{Kind: fleet.KindEndpoint, Account: fleet.AccountLocalSystem, Status: fleet.CheckFail},
		{Kind: fleet.KindEndpoint, Account: fleet.AccountLocalService, Status: fleet.CheckFail},
	}}
	if a, b := checkActor(h, &h.Checks[1]), checkActor(h, &h.Checks[2]); a != fleet.ActorFix || b != fleet.ActorProxy {
		t.Errorf("endpoint actors %q %q", a, b)
	}
	if got := hostErrorActor(&fleet.HostError{Kind: fleet.ErrorKindAuth}); got != fleet.ActorCredentials {
		t.Errorf("auth: %q", got)
	}
	if got := hostErrorActor(&fleet.HostError{Kind: fleet.ErrorKindTimeout}); got != fleet.ActorHost {
		t.Errorf("timeout: %q", got)
	}
}

func errorFleet(kind fleet.ErrorKind, msg string, n int) *fleet.Report {
	rep := &fleet.Report{Schema: fleet.Schema, Command: "audit", StartedAt: fixedNow, FinishedAt: fixedNow}
	for i := 0; i < n; i++ {
		rep.Hosts = append(rep.Hosts, fleet.HostResult{Host: "dc0" + string(rune('1'+i)) + ".corp.example", Status: fleet.StatusError,
			Error: &fleet.HostError{Kind: kind, Message: msg}})
	}
	return rep
}

// One fleet-wide cause is one headline, not N rows, in every human format.
func TestFleetHeadline(t *testing.T) {
	for _, tc := range []struct {
		kind      fleet.ErrorKind
		msg, want string
	}{
		{fleet.ErrorKindAuth, "401: logon refused", "the logon was refused on all 4 hosts"},
		{fleet.ErrorKindTimeout, "no answer within 60s", "every host timed out (4)"},
		{fleet.ErrorKindUnreachable, "connection refused", "no host was reachable (4)"},
		{fleet.ErrorKindAuth, "KDC unreachable: krb.corp.example:88", "the Kerberos KDC could not be reached"},
	} {
		rep := errorFleet(tc.kind, tc.msg, 4)
		hl := FleetHeadline(rep)
		if hl == nil || !strings.Contains(hl.Text, tc.want) {
			t.Fatalf("%s: headline %+v", tc.msg, hl)
		}
		table := render(t, "table", Options{TTY: true, Width: 80}, rep)
		if strings.Count(table, tc.msg) > 0 || !strings.Contains(table, "ALL HOSTS (") || strings.Count(table, "\n") > 4 {
			t.Errorf("table repeats the cause per host:\n%s", table)
		}
		for _, f := range []string{"markdown", "html"} {
			if out := render(t, f, fixedOptions(), rep); !strings.Contains(out, tc.want) {
				t.Errorf("%s lacks the headline %q", f, tc.want)
			}
		}
	}
	// Mixed causes, one host, or one host fine: no headline.
	mixed := errorFleet(fleet.ErrorKindAuth, "401", 3)
	mixed.Hosts[1].Error.Kind = fleet.ErrorKindTimeout
	one := errorFleet(fleet.ErrorKindAuth, "401", 1)
	someOK := errorFleet(fleet.ErrorKindAuth, "401", 3)
	someOK.Hosts[2] = fleet.HostResult{Host: "ok", Status: fleet.StatusCompliant}
	for _, rep := range []*fleet.Report{mixed, one, someOK} {
		if hl := FleetHeadline(rep); hl != nil {
			t.Errorf("unexpected headline %+v", hl)
		}
	}
}

// The sensor-aware columns appear when hosts carry a sensor and a route (every host the fixture's
// audit reached), and every format says which proxy source decided the verdict.
func TestSensorAndRoute(t *testing.T) {
	rep := fixture()
	if r := host(t, rep, "dc11.corp.example").Route; r == nil || r.Source != fleet.RouteSensorJSON {
		t.Fatalf("dc11 route = %+v, want %s", r, fleet.RouteSensorJSON)
	}
	if r := host(t, rep, "dc12.corp.example").Route; r == nil || r.Source != fleet.RouteMDEStatic {
		t.Fatalf("dc12 route = %+v, want %s", r, fleet.RouteMDEStatic)
	}
	table := render(t, "table", Options{}, rep)
	for _, want := range []string{"SENSOR", "ROUTE", "v2 2.250.18972.18405", "sensor-json json.lab.test:3128", "mde-static proxy.lab.test:8080"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	for _, f := range []string{"csv", "markdown", "html", "junit", "json"} {
		out := render(t, f, fixedOptions(), rep)
		if !strings.Contains(out, "sensor-json") || !strings.Contains(out, "mde-static") {
			t.Errorf("%s does not say which proxy source decided the verdict", f)
		}
	}
	// Without sensors and routes (a report from before the sensor-aware audit) the columns go.
	for i := range rep.Hosts {
		rep.Hosts[i].Sensor, rep.Hosts[i].Route = nil, nil
	}
	if table := render(t, "table", Options{}, rep); strings.Contains(table, "SENSOR") || strings.Contains(table, "ROUTE") {
		t.Errorf("sensor columns without sensors:\n%s", table)
	}
}
