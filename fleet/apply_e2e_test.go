package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// fixFleet: fixable hosts, hosts a fix must refuse, a host under a Group Policy that reverts every
// write (verification fails, rollback), and a host whose on-host backup directory is read-only.
var fixFleet = remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok, 'old.lab.test:3128': down}}", `
  - name: healthy
  - name: missing-system
    registry: {local_system: absent}
  - name: differing-service
    registry: {local_service: {proxy: 'old.lab.test:3128', bypass: '<local>', counter: 2}}
  - name: counter-only
    registry: {local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 99}}
  - name: de-missing-both
    locale: de-DE
    registry: {local_system: absent, local_service: absent}
  - name: pac
    registry:
      current_user: {autoconfig_url: 'http://wpad.lab.test/proxy.pac', counter: 1}
      local_system: absent
      local_service: {proxy: 'old.lab.test:3128', counter: 1}
    network: {pac_proxy: 'proxy.lab.test:8080'}
  - name: direct-reference
    registry: {current_user: {counter: 3}}
  - name: no-reference
    registry: {current_user: absent, local_system: absent}
  - name: unreachable
    fault: refuse
  - name: undecodable
    registry: {local_system: {raw: '4600000001'}}
  - name: gpo-reverts
    registry: {local_system: absent, local_service: {proxy: 'old.lab.test:3128', counter: 2}}
    policy: {enforce: true}
  - name: backup-read-only
    registry: {local_service: absent}
    backup: {read_only: true}
  - name: probe-regression
    registry: {local_system: {proxy: 'old.lab.test:3128', counter: 2}}
    network: {proxies: {'proxy.lab.test:8080': down, 'old.lab.test:3128': ok}}
`)

type fixEnv struct {
	lab   *lab.Lab
	hosts []inventory.Host
	opt   fleet.Options
	plan  fleet.PlanOptions // of the fix runs
	dir   string
}

func startFixLab(t *testing.T, first string) *fixEnv {
	t.Helper()
	return startLab(t, fixFleet, first)
}

// startLab starts the fleet file on addresses from first.
func startLab(t *testing.T, fleetFile, first string) *fixEnv {
	t.Helper()
	l := remotetest.StartLab(t, fleetFile, first)
	var hosts []inventory.Host
	for _, m := range l.Members {
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, Source: "fix-e2e"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, User: lab.GenUser, Password: lab.GenPassword, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	return &fixEnv{lab: l, hosts: hosts, dir: t.TempDir(), opt: fleet.Options{
		Concurrency: 12, HostTimeout: 10 * time.Second, Retries: 0, Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"},
	}}
}

func (e *fixEnv) member(name string) *lab.Member {
	for _, m := range e.lab.Members {
		if m.Spec.Name == name {
			return m
		}
	}
	panic("no member " + name)
}

// snapshot is every reachable host's whole registry.
func (e *fixEnv) snapshot() map[string]map[string][]registry.Value {
	out := map[string]map[string][]registry.Value{}
	for _, m := range e.lab.Members {
		if m.Host != nil {
			out[m.Spec.Name] = m.Host.Registry().Snapshot()
		}
	}
	return out
}

// run audits, plans and (unless dry) applies a fix or a restore and returns the report and plans.
func (e *fixEnv) run(t *testing.T, ctx context.Context, command string, recs []fleet.BackupRecord) (*fleet.Report, []fleet.HostPlan) {
	t.Helper()
	hosts := e.hosts
	if command == "restore" {
		hosts = nil
		for _, h := range e.hosts {
			for _, r := range recs {
				if r.Host == h.Name {
					hosts = append(hosts, h)
					break
				}
			}
		}
	}
	rep := fleet.Audit(ctx, hosts, e.opt)
	var plans []fleet.HostPlan
	if command == "fix" {
		plans = fleet.PlanFix(rep, e.plan)
	} else {
		plans = fleet.PlanRestore(rep, recs, fleet.RestoreOptions{})
	}
	backups, err := fleet.OpenJournal(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer backups.Close()
	alog, err := fleet.OpenJournal(filepath.Join(e.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	err = fleet.Apply(ctx, rep, hosts, plans, fleet.ApplyOptions{Options: e.opt, Concurrency: 3, RunID: fleet.NewRunID(time.Now()),
		Command: command, Operator: "tester as LAB\\auditor", Backups: backups, AuditLog: alog, RollbackOnProbeRegression: command == "fix"})
	if err != nil {
		t.Fatal(err)
	}
	return rep, plans
}

func outcomes(hr fleet.HostResult) map[string]string {
	m := map[string]string{}
	for _, r := range hr.Remediation {
		m[r.Account] = string(r.Action) + "/" + string(r.Outcome)
	}
	return m
}

func TestFixE2E(t *testing.T) {
	e := startFixLab(t, "127.94.0.1")
	ctx := context.Background()
	before := e.snapshot()

	rep, _ := e.run(t, ctx, "fix", nil)
	const (
		verified = "write/verified"
		none     = "none/unchanged"
		refused  = "refused/skipped"
	)
	want := map[string][2]string{ // LOCAL_SYSTEM, LOCAL_SERVICE
		"healthy":           {none, none},
		"missing-system":    {verified, none},
		"differing-service": {none, verified},
		"counter-only":      {none, none},
		"de-missing-both":   {verified, verified},
		"pac":               {verified, verified},
		"direct-reference":  {refused, refused},
		"no-reference":      {refused, refused},
		"unreachable":       {refused, refused},
		"undecodable":       {refused, none},
		"gpo-reverts":       {"write/rolled_back", "write/rolled_back"},
		"backup-read-only":  {none, "write/skipped"},
		"probe-regression":  {"write/rolled_back", none},
	}
	byHost := map[string]fleet.HostResult{}
	for _, hr := range rep.Hosts {
		byHost[hr.Host] = hr
		w, ok := want[hr.Host]
		if !ok {
			t.Fatalf("unexpected host %s", hr.Host)
		}
		got := outcomes(hr)
		if got[fleet.AccountLocalSystem] != w[0] || got[fleet.AccountLocalService] != w[1] {
			t.Errorf("%s: remediation %v, want LOCAL_SYSTEM %s LOCAL_SERVICE %s (%+v)", hr.Host, got, w[0], w[1], hr.Remediation)
		}
	}
	if rep.Command != "fix" || rep.RunID == "" {
		t.Errorf("report command %q run %q", rep.Command, rep.RunID)
	}
	for _, name := range []string{"healthy", "missing-system", "differing-service", "counter-only", "de-missing-both", "pac"} {
		if s := byHost[name].Status; s != fleet.StatusCompliant {
			t.Errorf("%s: status after fix %s, want compliant", name, s)
		}
	}
	if hr := byHost["gpo-reverts"]; hr.Status != fleet.StatusNoncompliant || !strings.Contains(hr.Remediation[0].Message, "VERIFICATION FAILED") {
		t.Errorf("gpo-reverts: status %s, remediation %+v", hr.Status, hr.Remediation)
	}
	if hr := byHost["probe-regression"]; !strings.Contains(hr.Remediation[0].Message, "passed before the write and fails after it") {
		t.Errorf("probe-regression: %+v", hr.Remediation)
	}
	if hr := byHost["backup-read-only"]; !strings.Contains(hr.Remediation[1].Message, "on-host backup failed") {
		t.Errorf("backup-read-only: %+v", hr.Remediation)
	}

	// Re-audit: every fixable host compliant; refused, rolled-back and unbacked hosts untouched.
	after := e.snapshot()
	re := fleet.Audit(ctx, e.hosts, e.opt)
	for _, hr := range re.Hosts {
		switch hr.Host {
		case "healthy", "missing-system", "differing-service", "counter-only", "de-missing-both", "pac":
			if hr.Status != fleet.StatusCompliant {
				t.Errorf("re-audit: %s is %s", hr.Host, hr.Status)
			}
		}
	}
	for _, name := range []string{"healthy", "counter-only", "direct-reference", "no-reference", "undecodable", "gpo-reverts", "backup-read-only", "probe-regression"} {
		if !reflect.DeepEqual(before[name], after[name]) {
			t.Errorf("%s: registry changed by the fix", name)
		}
	}

	// Backups: one record per written (host, account) with the previous bytes, and the on-host export.
	recs, err := fleet.ReadBackups(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	type ha struct{ host, acct string }
	got := map[ha]fleet.BackupRecord{}
	for _, r := range recs {
		if r.RunID != rep.RunID || r.Command != "fix" {
			t.Errorf("record of another run: %+v", r)
		}
		got[ha{r.Host, r.Account}] = r
	}
	wantRecs := []ha{{"missing-system", "LOCAL_SYSTEM"}, {"differing-service", "LOCAL_SERVICE"}, {"de-missing-both", "LOCAL_SYSTEM"},
		{"de-missing-both", "LOCAL_SERVICE"}, {"pac", "LOCAL_SYSTEM"}, {"pac", "LOCAL_SERVICE"}, {"gpo-reverts", "LOCAL_SYSTEM"}, {"gpo-reverts", "LOCAL_SERVICE"}, {"probe-regression", "LOCAL_SYSTEM"}}
	if len(got) != len(wantRecs) || len(recs) != len(wantRecs) {
		t.Errorf("%d backup records (%d distinct), want %d: %+v", len(recs), len(got), len(wantRecs), recs)
	}
	for _, k := range wantRecs {
		r, ok := got[k]
		if !ok {
			t.Errorf("no backup record for %v", k)
			continue
		}
		sid := map[string]string{"LOCAL_SYSTEM": "S-1-5-18", "LOCAL_SERVICE": "S-1-5-19"}[k.acct]
		v, present := before[k.host][`HKEY_USERS\`+sid+`\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`], false
		var prev []byte
		for _, x := range v {
			if x.Name == fleet.ValueName {
				prev, present = x.Data, true
			}
		}
		if r.Absent == present {
			t.Errorf("%v: record absent=%v, value present=%v", k, r.Absent, present)
		}
		if b, _ := r.PreviousBytes(); present && !bytes.Equal(b, prev) {
			t.Errorf("%v: record previous %X, was %X", k, b, prev)
		}
		if r.HostFile == "" {
			t.Errorf("%v: no on-host export file", k)
			continue
		}
		if !strings.HasPrefix(r.HostFile, `C:\ProgramData\dcproxy\backup\`) { // not %SystemRoot%\Temp: Disk Cleanup empties it
			t.Errorf("%v: on-host export %s is not in C:\\ProgramData\\dcproxy\\backup", k, r.HostFile)
		}
		data, err := e.member(k.host).Host.FS().ReadFile(r.HostFile)
		name := registry.UTF16("Connections")
		if err != nil || !bytes.Contains(data, name[:len(name)-2]) { // reg export writes UTF-16LE
			t.Errorf("%v: on-host export %s: %v", k, r.HostFile, err)
		}
	}

	// Audit log: every write with operator and outcome; the GPO host's writes mismatch and are rolled back.
	entries := readAuditLog(t, filepath.Join(e.dir, "audit.jsonl"))
	type tally struct{ verified, mismatch, rollback int }
	logged := map[string]*tally{}
	for _, en := range entries {
		if en.Operator == "" || en.Host == "" || en.Old == "" || en.New == "" || en.RunID != rep.RunID {
			t.Errorf("incomplete audit entry %+v", en)
		}
		if logged[en.Host] == nil {
			logged[en.Host] = &tally{}
		}
		switch {
		case en.Action == "rollback" && en.Outcome == string(fleet.OutcomeVerified):
			logged[en.Host].rollback++
		case en.Outcome == "mismatch":
			logged[en.Host].mismatch++
		case en.Outcome == string(fleet.OutcomeVerified):
			logged[en.Host].verified++
		default:
			t.Errorf("unexpected audit entry %+v", en)
		}
	}
	for host, w := range map[string]tally{"missing-system": {1, 0, 0}, "differing-service": {1, 0, 0}, "de-missing-both": {2, 0, 0},
		"pac": {2, 0, 0}, "gpo-reverts": {0, 2, 2}, "probe-regression": {1, 0, 1}} {
		if g := logged[host]; g == nil || *g != w {
			t.Errorf("audit log of %s: %+v, want %+v", host, g, w)
		}
		delete(logged, host)
	}
	for host := range logged {
		t.Errorf("audit log names %s, which was not written", host)
	}

	// A second fix finds nothing to do.
	rep2, plans2 := e.run(t, ctx, "fix", nil)
	for i, p := range plans2 {
		if p.Writes() != 0 && p.Host != "gpo-reverts" && p.Host != "backup-read-only" && p.Host != "probe-regression" {
			t.Errorf("second fix: %s plans %d writes: %+v", p.Host, p.Writes(), rep2.Hosts[i].Remediation)
		}
	}
	if !reflect.DeepEqual(after, e.snapshot()) {
		t.Errorf("second fix changed a registry")
	}

	// Restore of the first run puts every host back byte for byte.
	recs, err = fleet.ReadBackups(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var sel []fleet.BackupRecord
	for _, r := range recs {
		if r.RunID == rep.RunID {
			sel = append(sel, r)
		}
	}
	rrep, _ := e.run(t, ctx, "restore", sel)
	for _, hr := range rrep.Hosts {
		for _, r := range hr.Remediation {
			if r.Action == fleet.ActionWrite || r.Action == fleet.ActionDelete {
				if r.Outcome != fleet.OutcomeVerified {
					t.Errorf("restore %s %s: %s/%s %s", hr.Host, r.Account, r.Action, r.Outcome, r.Message)
				}
			}
		}
	}
	if final := e.snapshot(); !reflect.DeepEqual(before, final) {
		for h := range before {
			if !reflect.DeepEqual(before[h], final[h]) {
				t.Errorf("restore: %s differs from its pre-fix registry", h)
			}
		}
	}
}

func readAuditLog(t *testing.T, path string) []fleet.AuditEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fleet.AuditEntry
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e fleet.AuditEntry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("audit log line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// bigSettings is a decodable value of about 5.8 KB: its reg add line exceeds cmd.exe's limit.
func bigSettings(counter uint32) []byte {
	var hosts []string
	for i := 0; len(strings.Join(hosts, ";")) < 5800; i++ {
		hosts = append(hosts, fmt.Sprintf("host%04d.branch.lab.test", i))
	}
	return wininet.New("proxy.lab.test:8080", strings.Join(hosts, ";"), "", false, counter).Encode()
}

// applyPlans applies hand-made or planned plans to an audited report with fresh journals in e.dir.
func (e *fixEnv) applyPlans(t *testing.T, rep *fleet.Report, plans []fleet.HostPlan) {
	t.Helper()
	backups, err := fleet.OpenJournal(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer backups.Close()
	alog, err := fleet.OpenJournal(filepath.Join(e.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	if err := fleet.Apply(context.Background(), rep, e.hosts, plans, fleet.ApplyOptions{Options: e.opt, Concurrency: 2, RunID: fleet.NewRunID(time.Now()),
		Command: "fix", Operator: "tester", Backups: backups, AuditLog: alog, RollbackOnProbeRegression: true}); err != nil {
		t.Fatal(err)
	}
}

// A write cmd.exe refuses as too long leaves the value as it was; the rollback's reg add of the
// (equally large) previous value is refused the same way, but the read-back shows the previous
// value: the host is rolled back, not failed. (The plan refuses such values; this plan is made by hand.)
func TestRollbackReadBackDecides(t *testing.T) {
	big := bigSettings(3)
	if n := reg.CommandLength(reg.AddBinaryCommand(fleet.AccountKey(fleet.AccountLocalSystem), fleet.ValueName, big)); n <= reg.MaxCommandLine {
		t.Fatalf("line of %d characters fits", n)
	}
	spec := fmt.Sprintf(`
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: {raw: '%X'}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok}}
hosts:
  - name: big
`, big)
	e := startLab(t, spec, "127.96.0.1")
	e.opt.Probe.Disabled = true
	before := e.snapshot()
	rep := fleet.Audit(context.Background(), e.hosts, e.opt)
	if rep.Hosts[0].Error != nil {
		t.Fatalf("audit: %+v", rep.Hosts[0].Error)
	}
	desired := bigSettings(4)
	plans := []fleet.HostPlan{{Host: "big", Steps: []fleet.Step{{Account: fleet.AccountLocalSystem, Key: fleet.AccountKey(fleet.AccountLocalSystem),
		Value: fleet.ValueName, Action: fleet.ActionWrite, Current: big, Desired: desired}}}}
	e.applyPlans(t, rep, plans)
	row := rep.Hosts[0].Remediation[0]
	if row.Outcome != fleet.OutcomeRolledBack || !strings.Contains(row.Message, "reads back intact") || strings.Contains(row.Message, "ROLLBACK FAILED") {
		t.Errorf("outcome %s: %s", row.Outcome, row.Message)
	}
	if rep.Hosts[0].Status == fleet.StatusError {
		t.Errorf("host reported errored: %+v", rep.Hosts[0].Error)
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Errorf("registry changed")
	}
	var rollback *fleet.AuditEntry
	entries := readAuditLog(t, filepath.Join(e.dir, "audit.jsonl"))
	for i := range entries {
		if entries[i].Action == "rollback" {
			rollback = &entries[i]
		}
	}
	if rollback == nil || rollback.Outcome != string(fleet.OutcomeVerified) || !strings.Contains(rollback.Message, "reads back as its previous value") {
		t.Errorf("audit log rollback entry %+v", rollback)
	}
}

// The fresh read before writing re-checks the reference a fix copies: a HKCU changed since the
// audit skips the host ("audit again") instead of copying a stale reference.
func TestFixSkipsWhenReferenceChanged(t *testing.T) {
	const spec = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: absent
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok, 'new.lab.test:8080': ok}}
hosts:
  - name: ref-moves
`
	e := startLab(t, spec, "127.96.1.1")
	rep := fleet.Audit(context.Background(), e.hosts, e.opt)
	plans := fleet.PlanFix(rep, fleet.PlanOptions{})
	if plans[0].Writes() != 1 {
		t.Fatalf("plan %+v", plans[0])
	}
	m := e.member("ref-moves")
	acct, ok := m.Host.Account(m.Spec.User)
	if !ok {
		t.Fatalf("no account %s", m.Spec.User)
	}
	r := m.Host.Registry()
	hkcu := `HKEY_USERS\` + acct.SID + `\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	if err := r.SetValue(hkcu, registry.BinaryValue(fleet.ValueName, wininet.New("new.lab.test:8080", "<local>", "", false, 6).Encode())); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot()
	e.applyPlans(t, rep, plans)
	row := rep.Hosts[0].Remediation[0]
	if row.Outcome != fleet.OutcomeSkipped || !strings.Contains(row.Message, "reference (HKCU)") || !strings.Contains(row.Message, "audit again") {
		t.Errorf("outcome %s: %s", row.Outcome, row.Message)
	}
	if !reflect.DeepEqual(before, e.snapshot()) {
		t.Errorf("registry changed")
	}
	if recs, err := fleet.ReadBackups(filepath.Join(e.dir, "backups.jsonl")); err != nil || len(recs) != 0 {
		t.Errorf("backup records %v %v", recs, err)
	}
}

// routeFleet: the same drifted WinINet values under four routes; only the seed's rule is fixed.
const routeFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: absent
    local_service: {proxy: 'old.lab.test:3128', bypass: '<local>', counter: 2}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok, 'old.lab.test:3128': down}}
hosts:
  - name: no-sensor
  - name: v2-json-proxy
    sensor: {kind: v2, proxy: 'http://proxy.lab.test:8080'}
  - name: v3
    sensor: {kind: v3}
    machine: {mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}}
  - name: per-machine
    machine: {proxy_per_user: false, local_machine: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 1}}
`

// Issue 9: fix refuses, with the reason and what to run instead, hosts where WinINet is not what
// the sensor uses, and writes nothing there.
func TestFixRefusesWhereWinINetIsNotTheRoute(t *testing.T) {
	e := startLab(t, routeFleet, "127.99.2.1")
	before := e.snapshot()
	rep, _ := e.run(t, context.Background(), "fix", nil)
	after := e.snapshot()
	want := map[string]struct {
		source  string
		instead string
	}{
		"v2-json-proxy": {fleet.RouteSensorJSON, "instead: Set-MDISensorProxyConfiguration -ProxyUrl 'http://proxy.lab.test:8080'"},
		"v3":            {fleet.RouteMDEStatic, "instead: set the TelemetryProxyServer policy"},
		"per-machine":   {fleet.RouteWinINetMachine, `instead: set the proxy in HKLM\`},
	}
	for _, hr := range rep.Hosts {
		w, refused := want[hr.Host]
		if !refused {
			if got := outcomes(hr); got[fleet.AccountLocalSystem] != "write/verified" || got[fleet.AccountLocalService] != "write/verified" {
				t.Errorf("%s: %v, want both accounts written and verified", hr.Host, got)
			}
			continue
		}
		if hr.Route == nil || hr.Route.Source != w.source {
			t.Errorf("%s: route %+v, want %s", hr.Host, hr.Route, w.source)
		}
		if len(hr.Remediation) != 2 {
			t.Fatalf("%s: rows %+v", hr.Host, hr.Remediation)
		}
		for _, r := range hr.Remediation {
			if r.Action != fleet.ActionRefused || r.Outcome != fleet.OutcomeSkipped ||
				!strings.Contains(r.Message, hr.Route.Decision) || !strings.Contains(r.Message, w.instead) {
				t.Errorf("%s %s: %s/%s %q, want refused with the decision and %q", hr.Host, r.Account, r.Action, r.Outcome, r.Message, w.instead)
			}
		}
		if !reflect.DeepEqual(before[hr.Host], after[hr.Host]) {
			t.Errorf("%s: the registry changed although the fix was refused", hr.Host)
		}
	}
}
