package fleet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

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
	if rollback == nil || rollback.Outcome != fleet.OutcomeVerified || !strings.Contains(rollback.Message, "reads back as its previous value") {
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
