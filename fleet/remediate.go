package fleet

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// Remediation actions (Remediation.Action, Step.Action).
const (
	ActionWrite   = "write"   // reg add the desired bytes
	ActionDelete  = "delete"  // reg delete the value (restore of a value that was absent)
	ActionNone    = "none"    // the account already has the desired settings
	ActionRefused = "refused" // dcproxy will not touch the account; Message says why
)

// Remediation outcomes (Remediation.Outcome).
const (
	OutcomePlanned    = "planned"     // dry run: would be written
	OutcomeUnchanged  = "unchanged"   // nothing to do
	OutcomeSkipped    = "skipped"     // refused, or not written (connection, backup, interruption): the host is as it was
	OutcomeVerified   = "verified"    // written, read back identical, probe re-run
	OutcomeRolledBack = "rolled_back" // written, verification failed, previous value restored and verified
	OutcomeFailed     = "failed"      // written, and neither the new nor the previous value could be verified
)

// Step is what a run does to one account's value on one host.
type Step struct {
	Account string
	Key     string // AccountKey(Account)
	Value   string // ValueName or SavedLegacyValue
	Action  string // ActionWrite, ActionDelete, ActionNone or ActionRefused
	// Current is the value the audit read (nil = absent); a run writes only while the host still
	// holds exactly these bytes.
	Current []byte
	// Desired is what ActionWrite writes (nil for the other actions).
	Desired []byte
	// ProbeOK: the account's endpoint probe passed before the change, so a failing probe after it is a
	// regression (see ApplyOptions.RollbackOnProbeRegression).
	ProbeOK bool
	Message string
	// Notice marks an ActionNone step the plan listing names with its Message: a value left alone
	// on purpose (a SavedLegacySettings when the reference has none), not one that already matches.
	Notice bool
	// Forced marks a restore write or delete of a value that changed since the recorded run
	// (RestoreOptions.Force): it overwrites that later change.
	Forced bool
}

func (s Step) writes() bool { return s.Action == ActionWrite || s.Action == ActionDelete }

// id is the step's key in Values and in the write gate: one per account and value name.
func (s Step) id() string { return valueID(s.Account, s.Value) }

// HostPlan is what a run does on one host: one Step per account it looked at.
type HostPlan struct {
	Host  string
	Steps []Step
	// Expect names other values (Values ids, e.g. AccountCurrentUser) the writes depend on, with the
	// bytes the audit saw (nil = absent): a fix that copies the reference (HKCU) writes only while
	// the host still holds the reference the plan copied, else the host is skipped ("audit again").
	Expect map[string][]byte
}

// readsSaved reports whether the plan touches a SavedLegacySettings (its reads must include them).
func (p HostPlan) readsSaved() bool {
	for _, s := range p.Steps {
		if s.writes() && s.Value == SavedLegacyValue {
			return true
		}
	}
	return false
}

// Writes returns the number of values the plan changes on the host.
func (p HostPlan) Writes() int {
	n := 0
	for _, s := range p.Steps {
		if s.writes() {
			n++
		}
	}
	return n
}

// Remediation returns the report rows of the plan before anything ran: planned for writes and
// deletes, unchanged for accounts already right, skipped for refusals. Before and After are the
// decoded values (hex is in the plan listing and the backup file).
func (p HostPlan) Remediation() []Remediation {
	rows := make([]Remediation, 0, len(p.Steps))
	for _, s := range p.Steps {
		r := Remediation{Account: s.Account, Key: s.Key, Value: s.Value, Action: s.Action, Message: s.Message}
		switch s.Action {
		case ActionWrite, ActionDelete:
			r.Outcome = OutcomePlanned
			r.Before, r.After = Describe(s.Current), Describe(s.Desired)
		case ActionNone:
			r.Outcome = OutcomeUnchanged
		default:
			r.Outcome = OutcomeSkipped
		}
		rows = append(rows, r)
	}
	return rows
}

// Describe is a one-line decoded view of a DefaultConnectionSettings (or SavedLegacySettings) value: "absent", the decoded
// settings, or the size of a value that does not decode.
func Describe(b []byte) string {
	if b == nil {
		return "absent"
	}
	s, err := wininet.Decode(b)
	if err != nil {
		return fmt.Sprintf("undecodable value (%d bytes)", len(b))
	}
	return s.String()
}

// PlanOptions configure PlanFix.
type PlanOptions struct {
	// Reference is the declared reference of the audit (nil: the connecting account's HKCU bytes are
	// copied, as Microsoft's procedure does).
	Reference *DeclaredReference
	// AllowDirect permits copying a reference without any proxy, PAC URL or auto-detection over the
	// service accounts (which cuts a sensor behind a proxy off from its endpoint).
	AllowDirect bool
	// SavedLegacySettings also plans each service account's SavedLegacySettings (the report must
	// hold them: Options.SavedLegacySettings): the reference's bytes (for a declared reference, bytes
	// encoded from it) where they differ, after the account's DefaultConnectionSettings steps. When
	// the reference has no SavedLegacySettings the accounts' are left alone.
	SavedLegacySettings bool
}

// PlanFix derives from an audit report what a fix writes on each host, in report order (pure).
// Errored hosts, hosts without a usable reference, a direct-only reference (unless allowed) and
// values that do not decode are refused; accounts whose decoded settings match the reference (the
// counter may differ) are left alone; the others get the reference's bytes (or, for a declared
// reference, bytes encoded from it). With opt.SavedLegacySettings, every account whose
// DefaultConnectionSettings is not refused also gets a SavedLegacySettings step (see PlanOptions).
func PlanFix(rep *Report, opt PlanOptions) []HostPlan {
	plans := make([]HostPlan, len(rep.Hosts))
	for i := range rep.Hosts {
		plans[i] = planFixHost(&rep.Hosts[i], opt)
	}
	return plans
}

func refuseAll(p HostPlan, accounts []string, msg string) HostPlan {
	p.Steps = p.Steps[:0]
	for _, a := range accounts {
		p.Steps = append(p.Steps, Step{Account: a, Key: AccountKey(a), Value: ValueName, Action: ActionRefused, Message: msg})
	}
	return p
}

func planFixHost(hr *HostResult, opt PlanOptions) HostPlan {
	p := HostPlan{Host: hr.Host}
	if hr.Status == StatusError && hr.Error != nil {
		return refuseAll(p, ServiceAccounts, fmt.Sprintf("not fixed: the audit could not check the host (%s): %s", hr.Error.Kind, hr.Error.Message))
	}
	var ref wininet.Settings
	var refRaw []byte
	if opt.Reference != nil {
		d := opt.Reference
		ref = wininet.New(d.Proxy, d.Bypass, d.AutoConfigURL, d.AutoDetect, 0)
	} else {
		v := settingsOf(findCheck(hr, "reference"))
		if v == nil || !v.Present || v.DecodeError != "" {
			return refuseAll(p, ServiceAccounts, "not fixed: no usable reference value (HKCU of the connecting account)")
		}
		b, err := hex.DecodeString(v.Raw)
		if err == nil {
			ref, err = wininet.Decode(b)
		}
		if err != nil {
			return refuseAll(p, ServiceAccounts, "not fixed: the reference value does not decode: "+err.Error())
		}
		refRaw = b
	}
	if ref.Mode() == "direct" && !opt.AllowDirect {
		return refuseAll(p, ServiceAccounts, "not fixed: the reference is direct (no proxy, PAC or auto-detection); copying it over the service accounts would cut the sensor off from its endpoint (allow explicitly with --allow-direct)")
	}
	for _, acct := range ServiceAccounts {
		st := Step{Account: acct, Key: AccountKey(acct), Value: ValueName}
		c := findCheck(hr, "registry."+strings.ToLower(acct))
		if ep := findCheck(hr, "endpoint."+strings.ToLower(acct)); ep != nil {
			st.ProbeOK = ep.Status == CheckPass
		}
		act := settingsOf(c)
		switch {
		case c == nil || act == nil:
			st.Action, st.Message = ActionRefused, "not fixed: the audit has no registry finding for the account"
		case c.Status == CheckPass:
			st.Action, st.Message = ActionNone, "matches the reference"
		case act.DecodeError != "" || c.Status != CheckFail:
			st.Action, st.Message = ActionRefused, "not fixed: the current value does not decode ("+act.DecodeError+"); fix it by hand"
		default:
			cur, err := currentBytes(act)
			if err != nil {
				st.Action, st.Message = ActionRefused, "not fixed: "+err.Error()
				break
			}
			st.Action, st.Current = ActionWrite, cur
			if refRaw != nil {
				st.Desired = append([]byte{}, refRaw...)
				st.Message = "copy the reference value (HKCU of the connecting account)"
			} else {
				s := ref
				if cur != nil {
					// unverified: WinINet bumps the change counter when settings change; keep it increasing.
					s.Counter = act.Counter + 1
				}
				st.Desired = s.Encode()
				st.Message = "write the declared reference"
			}
		}
		p.Steps = append(p.Steps, st)
	}
	for j := range p.Steps {
		refuseLong(&p.Steps[j], "not fixed")
	}
	if opt.SavedLegacySettings {
		saved := planSavedLegacy(hr, p.Steps, ref, opt.Reference != nil)
		for j := range saved {
			refuseLong(&saved[j], "not written")
		}
		p.Steps = append(p.Steps, saved...)
	}
	if opt.Reference == nil {
		// The writes copy HKCU's bytes: they must still be the bytes the audit saw when the host is written.
		for _, st := range p.Steps {
			if st.Action != ActionWrite {
				continue
			}
			if p.Expect == nil {
				p.Expect = map[string][]byte{}
			}
			if st.Value == SavedLegacyValue {
				p.Expect[SavedLegacyID(AccountCurrentUser)] = st.Desired
			} else {
				p.Expect[AccountCurrentUser] = st.Desired
			}
		}
	}
	return p
}

// refuseLong refuses a write or delete whose command line, or the command line that puts the
// current value back (rollback, restore), cmd.exe would refuse as too long: "The command line is
// too long." leaves the value as it was, so such a value can be neither written nor restored by
// dcproxy. prefix starts the message ("not fixed", "not restored").
func refuseLong(st *Step, prefix string) {
	if !st.writes() {
		return
	}
	if st.Action == ActionWrite {
		if err := reg.CheckCommandLine(reg.AddBinaryCommand(st.Key, st.Value, st.Desired)); err != nil {
			st.Action, st.Message = ActionRefused, fmt.Sprintf("%s: the value to write is %d bytes, too large to write with reg add (%v); set it by hand", prefix, len(st.Desired), err)
			st.Desired = nil
			return
		}
	}
	if st.Current != nil {
		if err := reg.CheckCommandLine(reg.AddBinaryCommand(st.Key, st.Value, st.Current)); err != nil {
			st.Action, st.Message = ActionRefused, fmt.Sprintf("%s: the current value is %d bytes, too large to put back with reg add if the write had to be undone (%v); change it by hand", prefix, len(st.Current), err)
			st.Desired = nil
		}
	}
}

// planSavedLegacy plans the SavedLegacySettings of the accounts whose DefaultConnectionSettings step
// is not refused: the reference's copy (HKCU, or encoded from the declared ref) where the decoded
// settings differ. A reference without SavedLegacySettings leaves the accounts' alone.
func planSavedLegacy(hr *HostResult, dcs []Step, ref wininet.Settings, declared bool) []Step {
	var refRaw []byte
	refMsg, refAbsent := "", false
	if !declared {
		switch rs := hr.SavedLegacy[AccountCurrentUser]; {
		case hr.SavedLegacy == nil || rs == nil:
			refMsg = "not written: the SavedLegacySettings were not read"
		case !rs.Present:
			refAbsent = true
			refMsg = "left alone: the reference (HKCU of the connecting account) has no " + SavedLegacyValue
		case rs.DecodeError != "":
			refMsg = "not written: the reference's " + SavedLegacyValue + " does not decode: " + rs.DecodeError
		default:
			b, err := currentBytes(rs)
			if err == nil {
				ref, err = wininet.Decode(b)
			}
			if err != nil {
				refMsg = "not written: the reference's " + SavedLegacyValue + " does not decode: " + err.Error()
			}
			refRaw = b
		}
	}
	var out []Step
	for _, d := range dcs {
		if d.Value != ValueName || d.Action == ActionRefused {
			continue
		}
		st := Step{Account: d.Account, Key: AccountKey(d.Account), Value: SavedLegacyValue}
		var cur *Settings
		if hr.SavedLegacy != nil {
			cur = hr.SavedLegacy[d.Account]
		}
		switch {
		case refAbsent:
			st.Action, st.Message, st.Notice = ActionNone, refMsg, true
		case refMsg != "":
			st.Action, st.Message = ActionRefused, refMsg
		case cur == nil:
			st.Action, st.Message = ActionRefused, "not written: the account's "+SavedLegacyValue+" was not read"
		case cur.DecodeError != "":
			st.Action, st.Message = ActionRefused, "not written: the current "+SavedLegacyValue+" does not decode ("+cur.DecodeError+"); fix it by hand"
		default:
			b, err := currentBytes(cur)
			var s wininet.Settings
			if err == nil && b != nil {
				s, err = wininet.Decode(b)
			}
			switch {
			case err != nil:
				st.Action, st.Message = ActionRefused, "not written: "+err.Error()
			case b != nil && s.Equivalent(ref):
				st.Action, st.Message = ActionNone, SavedLegacyValue+" matches the reference"
			case refRaw != nil:
				st.Action, st.Current, st.Desired = ActionWrite, b, append([]byte{}, refRaw...)
				st.Message = "copy the reference's " + SavedLegacyValue + " (HKCU of the connecting account)"
			default:
				w := ref
				if b != nil {
					// unverified: as for DefaultConnectionSettings, keep the change counter increasing.
					w.Counter = s.Counter + 1
				}
				st.Action, st.Current, st.Desired = ActionWrite, b, w.Encode()
				st.Message = "write the declared reference as " + SavedLegacyValue
			}
		}
		out = append(out, st)
	}
	return out
}

// RestoreOptions configure PlanRestore.
type RestoreOptions struct {
	// Force puts the recorded previous values back even where the value changed since the run
	// wrote it (by an administrator or a later run), overwriting that change.
	Force bool
}

// transportKinds are the HostError kinds that mean the audit could not read the host; a restore
// refuses only those (a missing or undecodable reference does not matter to it).
var transportKinds = map[string]bool{"auth": true, "tls": true, "unreachable": true, "timeout": true, "protocol": true, "canceled": true}

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
		var mine []BackupRecord
		seen := map[string]bool{}
		for _, r := range recs {
			if k := r.Account + "\x00" + r.Value; strings.EqualFold(r.Host, hr.Host) && !seen[k] {
				seen[k] = true
				mine = append(mine, r)
			}
		}
		for _, r := range mine {
			st := Step{Account: r.Account, Key: r.Key, Value: r.Value}
			act := settingsOf(findCheck(hr, "registry."+strings.ToLower(r.Account)))
			if act == nil && r.Value == ValueName {
				act = observedSettings(hr, r.Account) // the audit stopped at the reference
			}
			if ep := findCheck(hr, "endpoint."+strings.ToLower(r.Account)); ep != nil && r.Value == ValueName {
				st.ProbeOK = ep.Status == CheckPass
			}
			what := "registry finding"
			if r.Value == SavedLegacyValue {
				act, what = hr.SavedLegacy[r.Account], SavedLegacyValue+" (it was not read)"
			}
			prev, perr := r.PreviousBytes()
			if perr == nil {
				var werr error
				if _, _, werr = r.WrittenBytes(); werr != nil {
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
			refuseLong(&st, "not restored")
			p.Steps = append(p.Steps, st)
		}
		plans[i] = p
	}
	return plans
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
	return &Settings{Present: true, Source: AccountKey(account), Raw: hexUpper(raw)}
}

func isServiceAccount(a string) bool {
	for _, s := range ServiceAccounts {
		if s == a {
			return true
		}
	}
	return false
}

func findCheck(hr *HostResult, id string) *Check {
	for i := range hr.Checks {
		if hr.Checks[i].ID == id {
			return &hr.Checks[i]
		}
	}
	return nil
}

func settingsOf(c *Check) *Settings {
	if c == nil {
		return nil
	}
	s, _ := c.Actual.(*Settings)
	return s
}

// currentBytes returns the value an audit finding describes (nil = absent).
func currentBytes(s *Settings) ([]byte, error) {
	if !s.Present {
		return nil, nil
	}
	b, err := hex.DecodeString(s.Raw)
	if err != nil {
		return nil, fmt.Errorf("the audit's copy of the current value is not hex: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// sameValue compares two values; nil (absent) differs from an empty value.
func sameValue(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// ApplyOptions configure Apply. Options supplies the dialer, targets, timeouts, retries, probe,
// declared reference (for the re-check) and logger; its Concurrency and Progress are not used.
type ApplyOptions struct {
	Options
	// Concurrency is the number of hosts written at once (default 10).
	Concurrency int
	// WriteTimeout bounds the write, read-back, probe and, separately, the rollback of one host once
	// its backups are recorded. These steps ignore cancellation of the run (Ctrl-C) and stop only at
	// this deadline (default 2 minutes).
	WriteTimeout time.Duration
	RunID        string
	Command      string // fix or restore: recorded in the backup file and the audit log
	Operator     string // who runs it: local OS user and connecting account
	Backups      *Journal
	AuditLog     *Journal
	// RollbackOnProbeRegression also rolls a host back when an account's endpoint probe passed before
	// the write and fails after it (fix: a change must not make a host worse).
	RollbackOnProbeRegression bool
}

// HostBackupDir is where the on-host `reg export` files go, below %SystemRoot%.
const HostBackupDir = `Temp\dcproxy`

// Apply carries out plans (from PlanFix or PlanRestore, in the order of rep.Hosts) on the hosts
// with at most opt.Concurrency hosts in flight, and updates rep in place: every host gets its
// remediation rows, and a host that was written gets the checks and status of its re-check.
//
// Per host, through one shell: a fresh read (the host must still hold the audited values, else it
// is skipped), `reg export` of each target key to %SystemRoot%\Temp\dcproxy, one backup record per
// account and value appended and fsynced to opt.Backups, then the writes, a read-back compared byte for byte,
// and the endpoint probe. A failed verification rolls every written account of the host back (and
// verifies that). Any failure before the backups are recorded leaves the host untouched. Every
// write is logged to opt.AuditLog.
//
// Cancelling ctx stops hosts that have not recorded their backups yet (they are reported skipped);
// a host past that point finishes under its own WriteTimeout. The error is non-nil only for misuse
// (plans not matching the report, no journals); host failures are data in the report.
func Apply(ctx context.Context, rep *Report, hosts []inventory.Host, plans []HostPlan, opt ApplyOptions) error {
	if len(plans) != len(rep.Hosts) {
		return fmt.Errorf("apply: %d plans for %d hosts", len(plans), len(rep.Hosts))
	}
	if opt.Backups == nil || opt.AuditLog == nil {
		return fmt.Errorf("apply: no backup file or audit log")
	}
	opt.setDefaults()
	if opt.Concurrency < 1 {
		opt.Concurrency = 10
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 2 * time.Minute
	}
	byName := map[string]inventory.Host{}
	for _, h := range hosts {
		byName[strings.ToLower(h.Name)] = h
	}
	opt.Options = opt.Options.gated()
	rep.Command, rep.RunID = opt.Command, opt.RunID
	for i := range rep.Hosts {
		if !strings.EqualFold(plans[i].Host, rep.Hosts[i].Host) {
			return fmt.Errorf("apply: plan %d is for %s, report host is %s", i, plans[i].Host, rep.Hosts[i].Host)
		}
		rep.Hosts[i].Remediation = plans[i].Remediation()
	}
	var todo []int // report indexes of the hosts to write
	for i := range rep.Hosts {
		p := plans[i]
		if p.Writes() == 0 {
			continue
		}
		if _, ok := byName[strings.ToLower(p.Host)]; !ok {
			markWrites(&rep.Hosts[i], p, OutcomeSkipped, "not written: the host is not in the inventory")
			continue
		}
		todo = append(todo, i)
	}
	forEachHost(ctx, len(todo), opt.Concurrency, hostJob{
		run: func(k int) {
			i := todo[k]
			start := opt.Now()
			rep.Hosts[i] = applyHost(ctx, byName[strings.ToLower(plans[i].Host)], rep.Hosts[i], plans[i], &opt)
			rep.Hosts[i].DurationMS += opt.Now().Sub(start).Milliseconds()
		},
		notStarted: func(k int) {
			markWrites(&rep.Hosts[todo[k]], plans[todo[k]], OutcomeSkipped, "not written: not started, the run was interrupted")
		},
		panicked: func(k int, v any, stack []byte) {
			i := todo[k]
			opt.Logger.Error("panic while writing host", "host", rep.Hosts[i].Host, "panic", v, "stack", string(stack))
			markWrites(&rep.Hosts[i], plans[i], OutcomeFailed, fmt.Sprintf("internal error: %v; check the host by hand, its previous values are in %s", v, opt.Backups.Path()))
		},
	})
	rep.FinishedAt = opt.Now().UTC()
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.summarize()
	return nil
}

// markWrites sets the outcome of the writing rows of a host.
func markWrites(hr *HostResult, p HostPlan, outcome, msg string) {
	for j, s := range p.Steps {
		if s.writes() && j < len(hr.Remediation) {
			hr.Remediation[j].Outcome, hr.Remediation[j].Message = outcome, msg
		}
	}
}

// hostRun is one host's remediation: its shell, its plan and its report rows.
type hostRun struct {
	opt      *ApplyOptions
	host     inventory.Host
	plan     HostPlan
	runner   remote.Runner
	rows     []Remediation
	recorded map[string]bool // values (Step.id) whose backup record is on disk
	saved    bool            // reads include the SavedLegacySettings
	log      *slog.Logger
}

// mutate is the one gate through which every command that changes a host runs (the on-host backup
// included): a write or delete of a value (id: Step.id, "" for the backup) whose backup record is
// not on disk is refused here, whatever the caller's logic, and every command is logged.
func (x *hostRun) mutate(ctx context.Context, id, line string) (remote.Output, error) {
	if id != "" && !x.recorded[id] {
		return remote.Output{}, fmt.Errorf("internal error: write to %s before its backup was recorded: refused", id)
	}
	x.log.Info("changing host", "value", id, "command", line)
	return x.runner.Run(ctx, line)
}

func applyHost(ctx context.Context, h inventory.Host, prev HostResult, p HostPlan, opt *ApplyOptions) HostResult {
	res := prev
	x := &hostRun{opt: opt, host: h, plan: p, rows: prev.Remediation, recorded: map[string]bool{},
		saved: opt.SavedLegacySettings || p.readsSaved(), log: opt.Logger.With("host", h.Name, "run", opt.RunID)}
	skip := func(msg string) HostResult {
		if ctx.Err() != nil && !strings.Contains(msg, "interrupted") {
			msg += " (the run was interrupted)"
		}
		markWrites(&res, p, OutcomeSkipped, "not written: "+msg)
		return res
	}
	if ctx.Err() != nil {
		return skip("not started, the run was interrupted")
	}
	hctx, cancel := context.WithTimeout(ctx, opt.HostTimeout)
	defer cancel()
	s, err := dial(hctx, h, opt.Options)
	if s != nil {
		defer s.close(ctx)
	}
	if err != nil {
		return skip("cannot connect: " + err.Error())
	}
	x.runner = s.runner
	now, err := readValues(hctx, s.runner, x.saved)
	if err != nil {
		return skip("cannot read the current values: " + err.Error())
	}
	var steps []int
	for j, st := range p.Steps {
		if !st.writes() {
			continue
		}
		if cur, ok := now[st.id()]; !ok || !sameValue(cur, st.Current) {
			return skip(fmt.Sprintf("%s %s changed since it was audited (now %s): audit again", st.Account, st.Value, Describe(cur)))
		}
		steps = append(steps, j)
	}
	for _, id := range slices.Sorted(maps.Keys(p.Expect)) {
		if cur, ok := now[id]; !ok || !sameValue(cur, p.Expect[id]) {
			what := "the reference (HKCU) " + ValueName
			if id != AccountCurrentUser {
				what = "the reference (HKCU) " + SavedLegacyValue
			}
			return skip(fmt.Sprintf("%s changed since it was audited (now %s): audit again", what, Describe(cur)))
		}
	}
	files, err := x.hostBackup(hctx, steps)
	if err != nil {
		return skip("the on-host backup failed: " + err.Error())
	}
	if ctx.Err() != nil {
		return skip("the run was interrupted before any write (the on-host backup was taken)")
	}
	for _, j := range steps {
		st := p.Steps[j]
		rec := BackupRecord{RunID: opt.RunID, Command: opt.Command, Time: opt.Now().UTC(), Host: h.Name, Address: h.Address,
			Account: st.Account, Key: st.Key, Value: st.Value, Absent: st.Current == nil, HostFile: files[st.Account]}
		if st.Current != nil {
			rec.Previous = hexUpper(st.Current)
		}
		if st.Desired != nil {
			rec.New = hexUpper(st.Desired)
		}
		if err := opt.Backups.Append(rec); err != nil {
			return skip("the local backup record could not be written: " + err.Error())
		}
		x.recorded[st.id()] = true
		res.Remediation[j].Backup = files[st.Account]
	}

	// Past this point the host is written: finish write, verification and rollback whatever ctx says.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), opt.WriteTimeout)
	defer wcancel()
	failure, attempted := x.write(wctx, steps)
	after, rerr := readValues(wctx, s.runner, x.saved)
	for _, j := range attempted {
		st := p.Steps[j]
		outcome, msg := OutcomeVerified, "read back identical"
		switch {
		case rerr != nil:
			outcome, msg = "unknown", "read back failed: "+rerr.Error()
		case !sameValue(after[st.id()], st.Desired):
			outcome, msg = "mismatch", "read back "+hexOrAbsent(after[st.id()])
			if failure == "" {
				failure = fmt.Sprintf("%s %s reads back %s after the write", st.Account, st.Value, Describe(after[st.id()]))
			}
		}
		x.audit(st, st.Action, st.Current, st.Desired, outcome, msg)
	}
	if rerr != nil && failure == "" {
		failure = "read back failed: " + rerr.Error()
	}
	var checked HostResult
	if failure == "" {
		checked = evaluate(wctx, s.runner, prev, after, opt.Options)
		if opt.RollbackOnProbeRegression && !opt.Probe.Disabled {
			for _, j := range attempted {
				st := p.Steps[j]
				ep := findCheck(&checked, "endpoint."+strings.ToLower(st.Account))
				if st.ProbeOK && (ep == nil || ep.Status != CheckPass) {
					msg := "no probe result"
					if ep != nil {
						msg = ep.Message
					}
					failure = fmt.Sprintf("the endpoint probe of %s passed before the write and fails after it: %s", st.Account, msg)
					break
				}
			}
		}
	}
	if failure == "" {
		for _, j := range steps {
			res.Remediation[j].Outcome = OutcomeVerified
			res.Remediation[j].Message = "written, read back identical, endpoint probe re-run"
		}
		checked.Remediation = res.Remediation
		checked.Stats = prev.Stats
		return checked
	}

	x.log.Error("verification failed: rolling back", "reason", failure)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), opt.WriteTimeout)
	defer rcancel()
	intact, rbErr := x.rollback(rctx, attempted)
	if rbErr != nil {
		msg := fmt.Sprintf("VERIFICATION FAILED: %s; ROLLBACK FAILED: %v; the previous values are in %s (run %s): check the host and run dcproxy restore", failure, rbErr, opt.Backups.Path(), opt.RunID)
		markWrites(&res, p, OutcomeFailed, msg)
		res.Status, res.Error = StatusError, &HostError{Kind: "error", Message: msg}
		return res
	}
	markWrites(&res, p, OutcomeSkipped, "not written: an earlier write on this host failed ("+failure+")")
	for _, j := range attempted {
		res.Remediation[j].Outcome = OutcomeRolledBack
		res.Remediation[j].Message = "VERIFICATION FAILED: " + failure + "; the previous value was written back and verified"
		if note, ok := intact[p.Steps[j].id()]; ok {
			res.Remediation[j].Message = "VERIFICATION FAILED: " + failure + "; the previous value reads back intact (" + note + ")"
		}
	}
	return res // the host is as the audit found it
}

// write runs the writes in plan order and stops at the first failure. It returns the failure ("" when
// every command succeeded) and the steps whose command was sent.
func (x *hostRun) write(ctx context.Context, steps []int) (string, []int) {
	var attempted []int
	for _, j := range steps {
		st := x.plan.Steps[j]
		line := reg.AddBinaryCommand(st.Key, st.Value, st.Desired)
		if st.Action == ActionDelete {
			line = reg.DeleteValueCommand(st.Key, st.Value)
		}
		attempted = append(attempted, j)
		out, err := x.mutate(ctx, st.id(), line)
		if err != nil {
			return fmt.Sprintf("%s %s: write: %v", st.Account, st.Value, err), attempted
		}
		if out.ExitCode != 0 {
			return fmt.Sprintf("%s %s: reg.exe exited %d: %s", st.Account, st.Value, out.ExitCode, firstLine(out.Stderr)), attempted
		}
	}
	return "", attempted
}

// rollback puts the previous value of every attempted step back (deleting values that were absent)
// and verifies them by reading back. The read-back decides: a value that reads back as its previous
// value is rolled back whatever its command's exit status (a write refused by cmd.exe or reg.exe
// left it untouched; a delete of a value that is already gone fails too); intact names those steps
// (Step.id) with what their command said. The error lists the values that are not verified.
func (x *hostRun) rollback(ctx context.Context, attempted []int) (intact map[string]string, _ error) {
	cmdErr := map[string]string{}
	for _, j := range attempted {
		st := x.plan.Steps[j]
		line := reg.AddBinaryCommand(st.Key, st.Value, st.Current)
		if st.Current == nil {
			line = reg.DeleteValueCommand(st.Key, st.Value)
		}
		out, err := x.mutate(ctx, st.id(), line)
		switch {
		case err != nil:
			cmdErr[st.id()] = fmt.Sprintf("%s %s: %v", st.Account, st.Value, err)
		case out.ExitCode != 0:
			cmdErr[st.id()] = fmt.Sprintf("%s %s: reg.exe exited %d: %s", st.Account, st.Value, out.ExitCode, firstLine(out.Stderr))
		}
	}
	after, err := readValues(ctx, x.runner, x.saved)
	var errs []string
	intact = map[string]string{}
	for _, j := range attempted {
		st := x.plan.Steps[j]
		ce, failed := cmdErr[st.id()]
		outcome, msg := OutcomeVerified, "previous value restored"
		switch {
		case err != nil:
			outcome, msg = "unknown", "read back failed: "+err.Error()
			if failed {
				errs = append(errs, ce)
			}
		case !sameValue(after[st.id()], st.Current):
			outcome, msg = "mismatch", "read back "+hexOrAbsent(after[st.id()])
			if failed {
				errs = append(errs, ce)
			}
			errs = append(errs, fmt.Sprintf("%s %s reads back %s, not its previous value", st.Account, st.Value, Describe(after[st.id()])))
		case failed && st.Current != nil:
			msg = "the rollback command failed (" + ce + ") but the value reads back as its previous value: verified"
			intact[st.id()] = "the rollback command failed, the read-back shows the previous value: " + ce
		}
		x.audit(st, "rollback", st.Desired, st.Current, outcome, msg)
	}
	if err != nil {
		errs = append(errs, "read back: "+err.Error())
	}
	if len(errs) > 0 {
		return intact, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return intact, nil
}

func (x *hostRun) audit(st Step, action string, old, new []byte, outcome, msg string) {
	e := AuditEntry{Time: x.opt.Now().UTC(), RunID: x.opt.RunID, Command: x.opt.Command, Operator: x.opt.Operator,
		Host: x.host.Name, Account: st.Account, Key: st.Key, Value: st.Value, Action: action,
		Old: hexOrAbsent(old), New: hexOrAbsent(new), Outcome: outcome, Message: msg}
	if err := x.opt.AuditLog.Append(e); err != nil {
		x.log.Error("audit log write failed", "err", err, "entry", e)
	}
}

// hostBackup exports each target key to %SystemRoot%\Temp\dcproxy with one command line and returns
// the file per account (one export per account: its key holds both DefaultConnectionSettings and
// SavedLegacySettings). A key that does not exist has nothing to export (no file); any other
// failure is an error.
func (x *hostRun) hostBackup(ctx context.Context, steps []int) (map[string]string, error) {
	const dir = `%SystemRoot%\` + HostBackupDir
	parts := []string{"echo " + reg.MarkerPrefix + "root:%SystemRoot%", `mkdir "` + dir + `" 2>nul`}
	names := map[string]string{}
	var exports []Step
	seen := map[string]bool{}
	for _, j := range steps {
		if st := x.plan.Steps[j]; !seen[st.Account] {
			seen[st.Account] = true
			exports = append(exports, st)
		}
	}
	for n, st := range exports {
		if err := reg.ValidateKey(st.Key); err != nil {
			return nil, err
		}
		name := "DefaultConnectionSettings-" + accountFileTag(st.Account) + "-" + x.opt.RunID + ".reg"
		if err := reg.ValidateFileName(name); err != nil {
			return nil, err
		}
		names[st.Account] = name
		m := fmt.Sprintf("%sb%d:", reg.MarkerPrefix, n)
		parts = append(parts,
			`reg query "`+st.Key+`" >nul 2>&1 && echo `+m+"key",
			`reg export "`+st.Key+`" "`+dir+`\`+name+`" /y >nul && echo `+m+"ok || echo "+m+"fail")
	}
	out, err := x.mutate(ctx, "", strings.Join(parts, " & "))
	if err != nil {
		return nil, err
	}
	root := ""
	marks := map[string]bool{}
	for _, l := range strings.Split(string(out.Stdout), "\n") {
		l = strings.TrimRight(l, "\r \t")
		if !strings.HasPrefix(l, reg.MarkerPrefix) {
			continue
		}
		rest := l[len(reg.MarkerPrefix):]
		if r, ok := strings.CutPrefix(rest, "root:"); ok {
			root = r
			continue
		}
		marks[rest] = true
	}
	if root == "" || strings.ContainsAny(root, `%"`) {
		return nil, fmt.Errorf("%w: could not locate %%SystemRoot%% (output %q)", remote.ErrProtocol, firstLine(out.Stdout))
	}
	files := map[string]string{}
	for n, st := range exports {
		id := fmt.Sprintf("b%d:", n)
		switch {
		case marks[id+"ok"]:
			files[st.Account] = root + `\` + HostBackupDir + `\` + names[st.Account]
		case marks[id+"fail"] && !marks[id+"key"]:
			// The key does not exist: nothing to export; the local record says "absent".
		case marks[id+"fail"]:
			return nil, fmt.Errorf("reg export %s to %s\\%s failed: %s", st.Key, root, HostBackupDir, firstLine(out.Stderr))
		default:
			return nil, fmt.Errorf("%w: no result marker for the export of %s", remote.ErrProtocol, st.Key)
		}
	}
	return files, nil
}

func accountFileTag(account string) string {
	switch account {
	case AccountLocalSystem:
		return "S-1-5-18"
	case AccountLocalService:
		return "S-1-5-19"
	}
	return account
}
