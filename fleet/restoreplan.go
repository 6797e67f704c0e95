package fleet

import (
	"fmt"
	"strings"

	"github.com/dcproxy/dcproxy/remote/wininet"
)

// RestoreOptions configure PlanRestore.
type RestoreOptions struct {
	// Force puts the recorded previous values back even where the value changed since the run
	// wrote it (by an administrator or a later run), overwriting that change.
	Force bool
}

// transportKinds are the HostError kinds that mean the audit could not read the host; a restore
// refuses only those (a missing or undecodable reference does not matter to it).
var transportKinds = map[ErrorKind]bool{ErrorKindAuth: true, ErrorKindTLS: true, ErrorKindUnreachable: true, ErrorKindTimeout: true,
	ErrorKindProtocol: true, ErrorKindCanceled: true}

// PlanRestore derives from an audit report and the backup records of one run what a restore
// writes on each host, in report order (pure): every recorded (host, account) gets its previous
// value back, or is deleted when it was absent; accounts already holding it are left alone. Hosts
// the audit could not read (transport errors: auth, tls, unreachable, timeout, protocol, canceled)
// and records that name another key or value than the account's DefaultConnectionSettings or
// SavedLegacySettings are refused; a SavedLegacySettings record needs the report to hold the
// account's SavedLegacySettings (Options.SavedLegacySettings). A value that holds neither what the
// run wrote nor the previous value was changed since (by hand or by a later run) and is refused
// unless opt.Force; so is a value whose reg add line would be too long for cmd.exe. When a host,
// account and value have several records, the first (the oldest) wins.
func PlanRestore(rep *Report, recs []BackupRecord, opt RestoreOptions) []HostPlan {
	plans := make([]HostPlan, len(rep.Hosts))
	for i := range rep.Hosts {
		hr := &rep.Hosts[i]
		p := HostPlan{Host: hr.Host}
		for _, r := range recordsOf(recs, hr.Host) {
			st := planRestoreValue(hr, r, opt)
			refuseLong(&st, "not restored")
			p.Steps = append(p.Steps, st)
		}
		plans[i] = p
	}
	return plans
}

// recordsOf returns the records of host, the first (oldest) per account and value.
func recordsOf(recs []BackupRecord, host string) []BackupRecord {
	var mine []BackupRecord
	seen := map[string]bool{}
	for _, r := range recs {
		if k := r.Account + "\x00" + r.Value; strings.EqualFold(r.Host, host) && !seen[k] {
			seen[k] = true
			mine = append(mine, r)
		}
	}
	return mine
}

// planRestoreValue plans putting back the value one record names: refused when the record names
// something dcproxy never writes, the audit could not read the host, the record is damaged or the
// audit has no finding for the value; otherwise see restoreAction.
func planRestoreValue(hr *HostResult, r BackupRecord, opt RestoreOptions) Step {
	st := Step{Account: r.Account, Key: r.Key, Value: r.Value}
	act := settingsOf(findCheck(hr, CheckID(CheckRegistry, r.Account)))
	if act == nil && r.Value == ValueName {
		act = observedSettings(hr, r.Account) // the audit stopped at the reference
	}
	if ep := findCheck(hr, CheckID(CheckEndpoint, r.Account)); ep != nil && r.Value == ValueName {
		st.ProbeOK = ep.Status == CheckPass
	}
	what := "registry finding"
	if r.Value == SavedLegacyValue {
		act, what = hr.SavedLegacy[r.Account], SavedLegacyValue+" (it was not read)"
	}
	prev, perr := r.PreviousBytes()
	if perr == nil {
		if _, _, werr := r.WrittenBytes(); werr != nil {
			perr = werr
		}
	}
	switch {
	case !isServiceAccount(r.Account) || !strings.EqualFold(r.Key, AccountKey(r.Account)) || (r.Value != ValueName && r.Value != SavedLegacyValue):
		st.Action, st.Message = ActionRefused, fmt.Sprintf("not restored: the record names %s\\%s for %s, which dcproxy never writes", r.Key, r.Value, r.Account)
	case hr.Status == StatusError && hr.Error != nil && transportKinds[hr.Error.Kind]:
		st.Action, st.Message = ActionRefused, fmt.Sprintf("not restored: the audit could not check the host (%s): %s", hr.Error.Kind, hr.Error.Message)
	case perr != nil:
		st.Action, st.Message = ActionRefused, "not restored: "+perr.Error()
	case act == nil:
		st.Action, st.Message = ActionRefused, "not restored: the audit has no "+what+" for the account"
	default:
		restoreAction(&st, r, act, prev, opt)
	}
	return st
}

// restoreAction decides a readable value's step: left alone when it already holds the recorded
// previous value, refused when it changed since the run (unless forced), else deleted (the value
// was absent) or written back.
func restoreAction(st *Step, r BackupRecord, act *Settings, prev []byte, opt RestoreOptions) {
	cur, err := currentBytes(act)
	switch {
	case err != nil:
		st.Action, st.Message = ActionRefused, "not restored: "+err.Error()
	case sameValue(cur, prev):
		st.Action, st.Message = ActionNone, "already holds the recorded value of run "+r.RunID
	case !opt.Force && changedSince(r, cur):
		wrote, _, _ := r.WrittenBytes()
		st.Action, st.Message = ActionRefused, fmt.Sprintf("not restored: %s %s changed since run %s (it wrote %s, it now holds %s): audit again, or restore the later run first; --force puts the recorded value back anyway",
			r.Account, r.Value, r.RunID, Describe(wrote), Describe(cur))
	case prev == nil:
		st.Action, st.Current = ActionDelete, cur
		st.Message = "delete: the value was absent before run " + r.RunID
	default:
		st.Action, st.Current, st.Desired = ActionWrite, cur, prev
		st.Message = "put back the value recorded by run " + r.RunID
	}
	if opt.Force && st.writes() && changedSince(r, cur) {
		st.Forced = true
		st.Message += " (--force: the value changed since that run; this overwrites the change)"
	}
}

// changedSince reports whether cur is neither what run r wrote (byte for byte, or the same decoded
// settings: WinINet may bump the change counter) nor r's previous value, i.e. someone or something
// changed the value after the run. A record that does not say what it wrote cannot tell: false.
func changedSince(r BackupRecord, cur []byte) bool {
	prev, _ := r.PreviousBytes()
	wrote, known, err := r.WrittenBytes()
	if !known || err != nil {
		return false
	}
	return !equivalentValue(cur, wrote) && !equivalentValue(cur, prev)
}

// equivalentValue: both absent, the same bytes, or both decode to equivalent settings.
func equivalentValue(a, b []byte) bool {
	if sameValue(a, b) {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	sa, err1 := wininet.Decode(a)
	sb, err2 := wininet.Decode(b)
	return err1 == nil && err2 == nil && sa.Equivalent(sb)
}

// observedSettings is an account's DefaultConnectionSettings as the audit read it when the audit
// could not compare it (no usable reference), in the form of a registry finding; nil when the
// audit did not read it.
func observedSettings(hr *HostResult, account string) *Settings {
	raw, ok := hr.observed[account]
	if !ok {
		return nil
	}
	if raw == nil {
		return &Settings{Present: false, Source: AccountKey(account)}
	}
	return &Settings{Present: true, Source: AccountKey(account), Raw: hexUpper(raw), bytes: raw, read: true}
}
