package fleet_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// savedFleet: SavedLegacySettings beside DefaultConnectionSettings (lab keys *_legacy).
const savedFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    current_user_legacy: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 4}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system_legacy: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 4}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_service_legacy: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 4}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok, 'old.lab.test:3128': down}}
hosts:
  - name: healthy
  - name: missing-both
    registry: {local_system: absent, local_system_legacy: absent}
  - name: legacy-differs
    registry: {local_service_legacy: {proxy: 'old.lab.test:3128', counter: 9}}
  - name: de-legacy
    locale: de-DE
    registry: {local_service: {proxy: 'old.lab.test:3128', counter: 2}, local_service_legacy: absent}
  - name: ref-no-legacy
    registry: {current_user_legacy: absent, local_system: absent, local_system_legacy: {proxy: 'old.lab.test:3128', counter: 1}}
  - name: gpo-reverts
    registry: {local_system: absent, local_system_legacy: absent}
    policy: {enforce: true}
`

// recDialer records every command line sent to any host.
type recDialer struct {
	remote.Dialer
	mu    sync.Mutex
	lines []string
}

func (d *recDialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	r, err := d.Dialer.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return &recRunner{Runner: r, d: d}, nil
}

func (d *recDialer) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.lines
	d.lines = nil
	return l
}

type recRunner struct {
	remote.Runner
	d *recDialer
}

func (r *recRunner) Run(ctx context.Context, line string) (remote.Output, error) {
	r.d.mu.Lock()
	r.d.lines = append(r.d.lines, line)
	r.d.mu.Unlock()
	return r.Runner.Run(ctx, line)
}

func startSavedLab(t *testing.T, first string, saved bool) (*fixEnv, *recDialer) {
	e := startLab(t, savedFleet, first)
	rd := &recDialer{Dialer: e.opt.Dialer}
	e.opt.Dialer = rd
	e.opt.SavedLegacySettings = saved
	e.plan.SavedLegacySettings = saved
	return e, rd
}

// savedValue is an account's SavedLegacySettings in a snapshot (nil: absent).
func savedValue(snap map[string]map[string][]registry.Value, host, sid string) []byte {
	for _, v := range snap[host][`HKEY_USERS\`+sid+`\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`] {
		if v.Name == fleet.SavedLegacyValue {
			return v.Data
		}
	}
	return nil
}

func rowsByValue(hr fleet.HostResult) map[string]fleet.Remediation {
	m := map[string]fleet.Remediation{}
	for _, r := range hr.Remediation {
		m[r.Account+"/"+r.Value] = r
	}
	return m
}

func TestFixSavedLegacyE2E(t *testing.T) {
	e, rd := startSavedLab(t, "127.97.0.1", true)
	ctx := context.Background()
	before := e.snapshot()
	cuSID := "" // the connecting account's SID: its key is the one with current_user values
	for k := range before["healthy"] {
		if strings.HasPrefix(k, `HKEY_USERS\S-1-5-21-`) && strings.HasSuffix(k, `\Connections`) {
			cuSID = strings.Split(k, `\`)[1]
		}
	}
	refSaved := savedValue(before, "healthy", cuSID)
	if refSaved == nil {
		t.Fatalf("no reference SavedLegacySettings in the lab (connecting account SID %q)", cuSID)
	}

	rep, _ := e.run(t, ctx, "fix", nil)

	// Reads: every host's reads are one line of 7 queries; no SavedLegacySettings query on its own.
	reads := 0
	for _, l := range rd.take() {
		if !strings.Contains(l, "reg query") {
			continue
		}
		if strings.Contains(l, "reg add") || strings.Contains(l, "reg delete") || strings.Contains(l, "reg export") {
			continue
		}
		// The audit's read of the whole host (the sensor-aware audit reads SavedLegacySettings of the
		// three accounts and the machine always), or the fix's own reads of 7 values.
		n, s := strings.Count(l, "reg query "), strings.Count(l, `/v "`+fleet.SavedLegacyValue+`"`)
		if !(n == 7 && s == 3) && !(strings.Contains(l, "SchUseStrongCrypto") && s == 4) {
			t.Errorf("read line with %d queries, %d of SavedLegacySettings: %.300s", n, s, l)
		}
		reads++
	}
	if reads < 2*len(e.hosts) { // the audit's read and the fresh read of every written host at least
		t.Errorf("%d read lines", reads)
	}

	const (
		ls, lsvc = fleet.AccountLocalSystem + "/", fleet.AccountLocalService + "/"
		dcs, sl  = fleet.ValueName, fleet.SavedLegacyValue
		verified = "write/verified"
		none     = "none/unchanged"
		rolled   = "write/rolled_back"
	)
	want := map[string]map[string]string{
		"healthy":        {ls + dcs: none, lsvc + dcs: none, ls + sl: none, lsvc + sl: none},
		"missing-both":   {ls + dcs: verified, lsvc + dcs: none, ls + sl: verified, lsvc + sl: none},
		"legacy-differs": {ls + dcs: none, lsvc + dcs: none, ls + sl: none, lsvc + sl: verified},
		"de-legacy":      {ls + dcs: none, lsvc + dcs: verified, ls + sl: none, lsvc + sl: verified},
		"ref-no-legacy":  {ls + dcs: verified, lsvc + dcs: none, ls + sl: none, lsvc + sl: none},
		"gpo-reverts":    {ls + dcs: rolled, lsvc + dcs: none, ls + sl: rolled, lsvc + sl: none},
	}
	for _, hr := range rep.Hosts {
		rows := rowsByValue(hr)
		if len(rows) != 4 || len(hr.Remediation) != 4 {
			t.Errorf("%s: %d remediation rows, want 4: %+v", hr.Host, len(hr.Remediation), hr.Remediation)
		}
		for k, w := range want[hr.Host] {
			if g := string(rows[k].Action) + "/" + string(rows[k].Outcome); g != w {
				t.Errorf("%s %s: %s (%s), want %s", hr.Host, k, g, rows[k].Message, w)
			}
		}
		if hr.Host == "ref-no-legacy" && !strings.Contains(rows[ls+sl].Message, "has no SavedLegacySettings") {
			t.Errorf("ref-no-legacy: %q", rows[ls+sl].Message)
		}
	}

	// The values written are the reference's bytes; left-alone and rolled-back values are as they were.
	after := e.snapshot()
	for _, c := range []struct{ host, sid string }{{"missing-both", "S-1-5-18"}, {"legacy-differs", "S-1-5-19"}, {"de-legacy", "S-1-5-19"}} {
		if got := savedValue(after, c.host, c.sid); !bytes.Equal(got, refSaved) {
			t.Errorf("%s %s: SavedLegacySettings %X, want the reference's %X", c.host, c.sid, got, refSaved)
		}
	}
	if g, w := savedValue(after, "ref-no-legacy", "S-1-5-18"), savedValue(before, "ref-no-legacy", "S-1-5-18"); w == nil || !bytes.Equal(g, w) {
		t.Errorf("ref-no-legacy: SavedLegacySettings %X, was %X", g, w)
	}
	for _, h := range []string{"healthy", "gpo-reverts"} {
		if !reflect.DeepEqual(before[h], after[h]) {
			t.Errorf("%s: registry changed", h)
		}
	}

	// SavedLegacySettings is not compliance: a plain audit and one that reads it agree.
	plain := e.opt
	plain.SavedLegacySettings = false
	re, reSaved := fleet.Audit(ctx, e.hosts, plain), fleet.Audit(ctx, e.hosts, e.opt)
	for i, hr := range re.Hosts {
		w := fleet.StatusCompliant
		if hr.Host == "gpo-reverts" {
			w = fleet.StatusNoncompliant
		}
		if hr.Status != w || reSaved.Hosts[i].Status != w || hr.SavedLegacy != nil || len(reSaved.Hosts[i].SavedLegacy) != 3 {
			t.Errorf("re-audit %s: %s / %s (want %s), saved legacy %v / %d", hr.Host, hr.Status, reSaved.Hosts[i].Status, w, hr.SavedLegacy, len(reSaved.Hosts[i].SavedLegacy))
		}
	}

	// Backups: one record per written value, SavedLegacySettings with its previous bytes and the key's export.
	recs, err := fleet.ReadBackups(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fleet.BackupRecord{}
	for _, r := range recs {
		got[r.Host+" "+r.Account+"/"+r.Value] = r
	}
	wantRecs := []string{"missing-both " + ls + dcs, "missing-both " + ls + sl, "legacy-differs " + lsvc + sl, "de-legacy " + lsvc + dcs,
		"de-legacy " + lsvc + sl, "ref-no-legacy " + ls + dcs, "gpo-reverts " + ls + dcs, "gpo-reverts " + ls + sl}
	if len(recs) != len(wantRecs) || len(got) != len(wantRecs) {
		t.Errorf("%d backup records, want %d: %+v", len(recs), len(wantRecs), recs)
	}
	for _, k := range wantRecs {
		r, ok := got[k]
		if !ok {
			t.Errorf("no backup record for %s", k)
			continue
		}
		if r.HostFile == "" {
			t.Errorf("%s: no on-host export", k)
		}
		if r.Value == sl {
			prev, _ := r.PreviousBytes()
			sid := map[string]string{fleet.AccountLocalSystem: "S-1-5-18", fleet.AccountLocalService: "S-1-5-19"}[r.Account]
			if was := savedValue(before, r.Host, sid); !bytes.Equal(prev, was) || r.Absent != (was == nil) || r.New != strings.ToUpper(hex.EncodeToString(refSaved)) {
				t.Errorf("%s: record previous %X absent=%v new %s; was %X", k, prev, r.Absent, r.New, was)
			}
		}
	}

	// Audit log: the SavedLegacySettings writes, and the GPO host's rollback of both values.
	type ev struct{ host, value, action, outcome string }
	logged := map[ev]int{}
	for _, en := range readAuditLog(t, filepath.Join(e.dir, "audit.jsonl")) {
		logged[ev{en.Host, en.Value, en.Action, en.Outcome}]++
	}
	for k, n := range map[ev]int{
		{"missing-both", sl, "write", "verified"}: 1, {"legacy-differs", sl, "write", "verified"}: 1, {"de-legacy", sl, "write", "verified"}: 1,
		{"gpo-reverts", dcs, "write", "mismatch"}: 1, {"gpo-reverts", sl, "write", "verified"}: 1,
		{"gpo-reverts", dcs, "rollback", "verified"}: 1, {"gpo-reverts", sl, "rollback", "verified"}: 1,
	} {
		if logged[k] != n {
			t.Errorf("audit log %+v: %d entries, want %d", k, logged[k], n)
		}
	}

	// A second fix finds nothing to do (but on the GPO host).
	_, plans2 := e.run(t, ctx, "fix", nil)
	for _, p := range plans2 {
		if p.Writes() != 0 && p.Host != "gpo-reverts" {
			t.Errorf("second fix: %s plans %d writes", p.Host, p.Writes())
		}
	}

	// Restore of the first run puts both values back byte for byte.
	var sel []fleet.BackupRecord
	for _, r := range recs {
		if r.RunID == rep.RunID {
			sel = append(sel, r)
		}
	}
	rrep, _ := e.run(t, ctx, "restore", sel)
	for _, hr := range rrep.Hosts {
		for _, r := range hr.Remediation {
			if (r.Action == fleet.ActionWrite || r.Action == fleet.ActionDelete) && r.Outcome != fleet.OutcomeVerified {
				t.Errorf("restore %s %s %s: %s/%s %s", hr.Host, r.Account, r.Value, r.Action, r.Outcome, r.Message)
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

// TestFixWithoutSavedLegacyE2E: without the option nothing about SavedLegacySettings is read or written.
func TestFixWithoutSavedLegacyE2E(t *testing.T) {
	e, rd := startSavedLab(t, "127.97.1.1", false)
	ctx := context.Background()
	before := e.snapshot()
	rep, _ := e.run(t, ctx, "fix", nil)
	lines := rd.take()
	if len(lines) == 0 {
		t.Fatal("no command line recorded")
	}
	for _, l := range lines {
		if strings.Contains(l, "SchUseStrongCrypto") {
			continue // the audit's read of the whole host reads SavedLegacySettings' presence always
		}
		if strings.Contains(strings.ToLower(l), strings.ToLower(fleet.SavedLegacyValue)) {
			t.Errorf("command line names SavedLegacySettings: %.300s", l)
		}
	}
	writes := 0
	for _, hr := range rep.Hosts {
		if hr.SavedLegacy != nil {
			t.Errorf("%s: SavedLegacySettings reported without the option", hr.Host)
		}
		for _, r := range hr.Remediation {
			if r.Value != fleet.ValueName {
				t.Errorf("%s: remediation of %s", hr.Host, r.Value)
			}
			if r.Outcome == fleet.OutcomeVerified {
				writes++
			}
		}
	}
	if writes != 3 { // missing-both, de-legacy, ref-no-legacy
		t.Errorf("%d verified writes, want 3", writes)
	}
	recs, err := fleet.ReadBackups(filepath.Join(e.dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Value != fleet.ValueName {
			t.Errorf("backup record of %s", r.Value)
		}
	}
	after := e.snapshot()
	for _, h := range []string{"healthy", "missing-both", "legacy-differs", "de-legacy", "ref-no-legacy", "gpo-reverts"} {
		for _, sid := range []string{"S-1-5-18", "S-1-5-19"} {
			if !bytes.Equal(savedValue(before, h, sid), savedValue(after, h, sid)) {
				t.Errorf("%s %s: SavedLegacySettings changed without the option", h, sid)
			}
		}
	}
}
