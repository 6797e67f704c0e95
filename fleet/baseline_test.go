package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Small builders for drift tests: a host is a name, a status and checks "id=status".
func bhost(name string, herr ErrorKind, checks ...string) HostResult {
	h := HostResult{Host: name, Checks: []Check{}}
	if herr != "" {
		h.Error = &HostError{Kind: herr, Message: string(herr) + " message"}
	}
	for _, c := range checks {
		id, st, _ := strings.Cut(c, "=")
		h.Checks = append(h.Checks, Check{ID: id, Status: CheckStatus(st), Account: AccountLocalSystem, Message: id + " is " + st})
	}
	h.Status = verdict(h.Checks)
	if herr != "" {
		h.Status = StatusError
	}
	return h
}

func brep(hosts ...HostResult) *Report {
	r := &Report{Schema: Schema, Command: "audit", StartedAt: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC), Hosts: hosts}
	r.summarize()
	return r
}

// drifts lists "host/check=drift" for every finding of rep, in order.
func drifts(rep *Report) []string {
	var out []string
	for _, h := range rep.Hosts {
		if h.Error != nil {
			out = append(out, h.Host+"/host="+h.Error.Drift)
		}
		for _, c := range h.Checks {
			if c.Drift != "" || isFinding(&c) {
				out = append(out, h.Host+"/"+c.ID+"="+c.Drift)
			}
		}
	}
	return out
}

func resolvedKeys(rep *Report) []string {
	var out []string
	for _, f := range rep.Resolved {
		out = append(out, f.Host+"/"+f.Check)
	}
	return out
}

func TestApplyBaseline(t *testing.T) {
	const (
		ls  = "registry.local_system"
		lsv = "registry.local_service"
		ep  = "endpoint.local_system"
	)
	for _, tc := range []struct {
		name         string
		prev, cur    *Report
		wantDrift    []string
		wantResolved []string
		wantHosts    []string // HostResult.Drift per host of cur
		wantSum      DriftSummary
	}{
		{
			name:      "no baseline: every finding is new",
			prev:      nil,
			cur:       brep(bhost("dc1", "", ls+"=fail", ep+"=pass"), bhost("dc2", ErrorKindAuth), bhost("dc3", "", ls+"=pass")),
			wantDrift: []string{"dc1/" + ls + "=new", "dc2/host=new"},
			wantHosts: []string{"new", "new", ""},
			wantSum:   DriftSummary{New: 2, NewFail: 1, NewError: 1},
		},
		{
			name:      "same findings persist",
			prev:      brep(bhost("dc1", "", ls+"=fail"), bhost("dc2", ErrorKindUnreachable)),
			cur:       brep(bhost("DC1", "", ls+"=fail"), bhost("dc2", ErrorKindAuth)), // host case and error kind do not matter
			wantDrift: []string{"DC1/" + ls + "=persisting", "dc2/host=persisting"},
			wantHosts: []string{"persisting", "persisting"},
			wantSum:   DriftSummary{Persisting: 2},
		},
		{
			name:      "a fail that became an error persists (same key)",
			prev:      brep(bhost("dc1", "", ep+"=fail")),
			cur:       brep(bhost("dc1", "", ep+"=error")),
			wantDrift: []string{"dc1/" + ep + "=persisting"},
			wantHosts: []string{"persisting"},
			wantSum:   DriftSummary{Persisting: 1},
		},
		{
			name:         "fixed check is resolved, another check is new",
			prev:         brep(bhost("dc1", "", ls+"=fail", lsv+"=pass")),
			cur:          brep(bhost("dc1", "", ls+"=pass", lsv+"=fail")),
			wantDrift:    []string{"dc1/" + lsv + "=new"},
			wantResolved: []string{"dc1/" + ls},
			wantHosts:    []string{"new"},
			wantSum:      DriftSummary{New: 1, Resolved: 1, NewFail: 1},
		},
		{
			name:         "host error resolved when the host is checked again",
			prev:         brep(bhost("dc1", ErrorKindTimeout)),
			cur:          brep(bhost("dc1", "", ls+"=pass")),
			wantResolved: []string{"dc1/host"},
			wantHosts:    []string{""},
			wantSum:      DriftSummary{Resolved: 1},
		},
		{
			name:      "a host that was in error and now fails a check: new (was not known)",
			prev:      brep(bhost("dc1", ErrorKindTimeout)),
			cur:       brep(bhost("dc1", "", ls+"=fail")),
			wantDrift: []string{"dc1/" + ls + "=new"},
			// the host error is resolved: the host answered this time
			wantResolved: []string{"dc1/host"},
			wantHosts:    []string{"new"},
			wantSum:      DriftSummary{New: 1, Resolved: 1, NewFail: 1},
		},
		{
			name:      "findings of a host now unreachable are unknown, not resolved",
			prev:      brep(bhost("dc1", "", ls+"=fail", ep+"=fail")),
			cur:       brep(bhost("dc1", ErrorKindUnreachable)),
			wantDrift: []string{"dc1/host=new"},
			wantHosts: []string{"new"},
			wantSum:   DriftSummary{New: 1, NewError: 1},
		},
		{
			name:      "a check not run again (--no-probe) is unknown, a host not in the run is unknown",
			prev:      brep(bhost("dc1", "", ls+"=pass", ep+"=fail"), bhost("gone", "", ls+"=fail")),
			cur:       brep(bhost("dc1", "", ls+"=pass")),
			wantHosts: []string{""},
			wantSum:   DriftSummary{},
		},
		{
			name:         "info and pass are never findings",
			prev:         brep(bhost("dc1", "", "reference=info", ls+"=pass")),
			cur:          brep(bhost("dc1", "", "reference=info", ls+"=pass")),
			wantHosts:    []string{""},
			wantResolved: nil,
			wantSum:      DriftSummary{},
		},
		{
			name:      "mixed new fail and persisting error on one host",
			prev:      brep(bhost("dc1", "", ep+"=error")),
			cur:       brep(bhost("dc1", "", ls+"=fail", ep+"=error")),
			wantDrift: []string{"dc1/" + ls + "=new", "dc1/" + ep + "=persisting"},
			wantHosts: []string{"new"},
			wantSum:   DriftSummary{New: 1, Persisting: 1, NewFail: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prevJSON []byte
			if tc.prev != nil {
				prevJSON, _ = json.Marshal(tc.prev)
			}
			if err := ApplyBaseline(tc.cur, tc.prev); err != nil {
				t.Fatal(err)
			}
			if got := drifts(tc.cur); !reflect.DeepEqual(got, tc.wantDrift) {
				t.Errorf("drift = %v, want %v", got, tc.wantDrift)
			}
			if got := resolvedKeys(tc.cur); !reflect.DeepEqual(got, tc.wantResolved) {
				t.Errorf("resolved = %v, want %v", got, tc.wantResolved)
			}
			var hosts []string
			for _, h := range tc.cur.Hosts {
				hosts = append(hosts, h.Drift)
			}
			if !reflect.DeepEqual(hosts, tc.wantHosts) {
				t.Errorf("host drift = %q, want %q", hosts, tc.wantHosts)
			}
			if tc.cur.Summary.Drift == nil || *tc.cur.Summary.Drift != tc.wantSum {
				t.Errorf("summary = %+v, want %+v", tc.cur.Summary.Drift, tc.wantSum)
			}
			if tc.cur.Baseline == nil || tc.cur.Baseline.Missing != (tc.prev == nil) {
				t.Errorf("baseline ref = %+v", tc.cur.Baseline)
			}
			if tc.prev != nil {
				if !tc.cur.Baseline.StartedAt.Equal(tc.prev.StartedAt) {
					t.Errorf("baseline started_at = %v", tc.cur.Baseline.StartedAt)
				}
				after, _ := json.Marshal(tc.prev)
				if !bytes.Equal(prevJSON, after) {
					t.Error("ApplyBaseline modified the baseline")
				}
			}
			// Idempotent: applying again gives the same classification.
			first, _ := json.Marshal(tc.cur)
			if err := ApplyBaseline(tc.cur, tc.prev); err != nil {
				t.Fatal(err)
			}
			second, _ := json.Marshal(tc.cur)
			if !bytes.Equal(first, second) {
				t.Errorf("second application differs:\n%s\n%s", first, second)
			}
		})
	}
}

// A JSON report written by one run is a usable baseline for the next, and the drift fields
// survive the round trip (a report compared with a baseline can itself be the next baseline).
func TestBaselineRoundTrip(t *testing.T) {
	prev := brep(bhost("dc1", "", "registry.local_system=fail"), bhost("dc2", ErrorKindAuth), bhost("dc3", "", "registry.local_system=pass"))
	if err := ApplyBaseline(prev, nil); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(prev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"drift": "new"`, `"drift": {`, `"missing": true`, `"new_fail_hosts": 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	base, err := ReadBaseline(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	cur := brep(bhost("dc1", "", "registry.local_system=fail"), bhost("dc2", "", "registry.local_system=pass"), bhost("dc3", "", "registry.local_system=fail"))
	if err := ApplyBaseline(cur, base); err != nil {
		t.Fatal(err)
	}
	if got, want := drifts(cur), []string{"dc1/registry.local_system=persisting", "dc3/registry.local_system=new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("drift = %v, want %v", got, want)
	}
	if got := resolvedKeys(cur); !reflect.DeepEqual(got, []string{"dc2/host"}) {
		t.Errorf("resolved = %v", got)
	}
	if f := cur.Resolved[0]; f.Status != CheckError || f.Message != "auth: auth message" {
		t.Errorf("resolved finding = %+v", f)
	}
}

func TestReadBaselineErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
		msg      string
	}{
		{"not json", "hosts:\n - dc1\n", ErrBaselineSyntax, "not valid report JSON"},
		{"array", `[1,2]`, ErrBaselineSyntax, ""},
		{"no schema", `{"hosts": []}`, ErrBaselineSchema, `no "schema" field`},
		{"other schema", `{"schema": "dcproxy.report/v9", "hosts": []}`, ErrBaselineSchema, `"dcproxy.report/v9"`},
		{"v1 report", `{"schema": "dcproxy.report/v1", "hosts": []}`, ErrBaselineSchema, `older dcproxy`},
		{"schema not a string", `{"schema": 1}`, ErrBaselineSyntax, ""},
		{"bad hosts", `{"schema": "dcproxy.report/v2", "hosts": {}}`, ErrBaselineSyntax, ""},
		{"truncated", `{"schema": "dcproxy.report/v2", "hosts": [`, ErrBaselineSyntax, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadBaseline(strings.NewReader(tc.in))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	cur := brep(bhost("dc1", ErrorKindAuth))
	err := ApplyBaseline(cur, &Report{Schema: "other/v9"})
	if !errors.Is(err, ErrBaselineSchema) || cur.Baseline != nil || cur.Hosts[0].Error.Drift != "" {
		t.Fatalf("wrong schema: err %v, cur changed: %+v", err, cur.Baseline)
	}
	if err := ApplyBaseline(nil, nil); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadBaseline: any input either fails with one of the two sentinels or yields a report that
// ApplyBaseline accepts as a baseline without panicking.
func FuzzReadBaseline(f *testing.F) {
	seed := brep(bhost("dc1", "", "registry.local_system=fail", "endpoint.local_system=error"), bhost("dc2", ErrorKindAuth))
	b, _ := json.Marshal(seed)
	f.Add(b)
	f.Add([]byte(`{"schema":"dcproxy.report/v1","hosts":[{"host":"DC1","error":{"kind":"x"},"checks":[{"id":"a","status":"fail"}]}],"resolved":[{"host":"x","check":"host","status":"error"}]}`))
	f.Add([]byte(`{"schema":"dcproxy.report/v1"}`))
	f.Add([]byte(`{"schema":"x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		prev, err := ReadBaseline(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrBaselineSyntax) && !errors.Is(err, ErrBaselineSchema) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		cur := brep(bhost("dc1", "", "registry.local_system=fail"), bhost("dc2", "", "a=pass"), bhost("dc3", ErrorKindTimeout))
		if err := ApplyBaseline(cur, prev); err != nil {
			t.Fatalf("ApplyBaseline of a parsed baseline: %v", err)
		}
		s := cur.Summary.Drift
		if s.New+s.Persisting != 2 {
			t.Fatalf("findings %d+%d, want 2", s.New, s.Persisting)
		}
	})
}
