package fleet

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// Action is what a run does to a value.
type Action string

// Remediation actions (Remediation.Action, Step.Action).
const (
	ActionWrite   Action = "write"   // reg add the desired bytes
	ActionDelete  Action = "delete"  // reg delete the value (restore of a value that was absent)
	ActionNone    Action = "none"    // the account already has the desired settings
	ActionRefused Action = "refused" // dcproxy will not touch the account; Message says why
)

// Outcome is how a planned action ended.
type Outcome string

// Remediation outcomes (Remediation.Outcome).
const (
	OutcomePlanned    Outcome = "planned"     // dry run: would be written
	OutcomeUnchanged  Outcome = "unchanged"   // nothing to do
	OutcomeSkipped    Outcome = "skipped"     // refused, or not written (connection, backup, interruption): the host is as it was
	OutcomeVerified   Outcome = "verified"    // written, read back identical, probe re-run
	OutcomeRolledBack Outcome = "rolled_back" // written, verification failed, previous value restored and verified
	OutcomeFailed     Outcome = "failed"      // written, and neither the new nor the previous value could be verified
)

// Step is what a run does to one account's value on one host.
type Step struct {
	Account string
	Key     string // AccountKey(Account)
	Value   string // ValueName or SavedLegacyValue
	Action  Action // ActionWrite, ActionDelete, ActionNone or ActionRefused
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
// Errored hosts, hosts whose sensor does not use the per-account WinINet values (Route.Source not
// RouteWinINet, or no route decided: see fixApplies), hosts without a usable reference, a direct-only reference (unless allowed) and
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
	if ok, why := fixApplies(hr); !ok {
		return refuseAll(p, ServiceAccounts, why)
	}
	ref, refRaw, why := fixReference(hr, opt)
	if why != "" {
		return refuseAll(p, ServiceAccounts, why)
	}
	for _, acct := range ServiceAccounts {
		p.Steps = append(p.Steps, planFixAccount(hr, acct, ref, refRaw))
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
		p.Expect = expectReference(p.Steps)
	}
	return p
}

// fixReference is what a fix writes: the declared reference, or the bytes of the connecting
// account's HKCU (refRaw) and their decoded settings. why says why there is no usable one.
func fixReference(hr *HostResult, opt PlanOptions) (ref wininet.Settings, refRaw []byte, why string) {
	if opt.Reference != nil {
		d := opt.Reference
		ref = wininet.New(d.Proxy, d.Bypass, d.AutoConfigURL, d.AutoDetect, 0)
	} else {
		v := settingsOf(findCheck(hr, "reference"))
		if v == nil || !v.Present || v.DecodeError != "" {
			return ref, nil, "not fixed: no usable reference value (HKCU of the connecting account)"
		}
		b, err := currentBytes(v)
		if err == nil {
			ref, err = wininet.Decode(b)
		}
		if err != nil {
			return ref, nil, "not fixed: the reference value does not decode: " + err.Error()
		}
		refRaw = b
	}
	if ref.Mode() == "direct" && !opt.AllowDirect {
		return ref, nil, "not fixed: the reference is direct (no proxy, PAC or auto-detection); copying it over the service accounts would cut the sensor off from its endpoint (allow explicitly with --allow-direct)"
	}
	return ref, refRaw, ""
}

// planFixAccount plans one service account's DefaultConnectionSettings: left alone when it
// matches the reference, refused when it cannot be read or decoded, else the reference written.
func planFixAccount(hr *HostResult, acct string, ref wininet.Settings, refRaw []byte) Step {
	st := Step{Account: acct, Key: AccountKey(acct), Value: ValueName}
	c := findCheck(hr, CheckID(CheckRegistry, acct))
	if ep := findCheck(hr, CheckID(CheckEndpoint, acct)); ep != nil {
		st.ProbeOK = ep.Status == CheckPass
	}
	act := settingsOf(c)
	switch {
	case c == nil || act == nil:
		st.Action, st.Message = ActionRefused, "not fixed: the audit has no registry finding for the account"
		return st
	case c.Status == CheckPass:
		st.Action, st.Message = ActionNone, "matches the reference"
		return st
	case act.DecodeError != "" || c.Status != CheckFail:
		st.Action, st.Message = ActionRefused, "not fixed: the current value does not decode ("+act.DecodeError+"); fix it by hand"
		return st
	}
	cur, err := currentBytes(act)
	if err != nil {
		st.Action, st.Message = ActionRefused, "not fixed: "+err.Error()
		return st
	}
	st.Action, st.Current = ActionWrite, cur
	if refRaw != nil {
		st.Desired = append([]byte{}, refRaw...)
		st.Message = "copy the reference value (HKCU of the connecting account)"
		return st
	}
	s := ref
	if cur != nil {
		// unverified: WinINet bumps the change counter when settings change; keep it increasing.
		s.Counter = act.Counter + 1
	}
	st.Desired = s.Encode()
	st.Message = "write the declared reference"
	return st
}

// expectReference: writes that copy HKCU's bytes depend on them; they must still be the bytes
// the audit saw when the host is written (nil when nothing is copied).
func expectReference(steps []Step) map[string][]byte {
	var expect map[string][]byte
	for _, st := range steps {
		if st.Action != ActionWrite {
			continue
		}
		if expect == nil {
			expect = map[string][]byte{}
		}
		if st.Value == SavedLegacyValue {
			expect[SavedLegacyID(AccountCurrentUser)] = st.Desired
		} else {
			expect[AccountCurrentUser] = st.Desired
		}
	}
	return expect
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
		ref, refRaw, refMsg, refAbsent = savedLegacyReference(hr, ref)
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
			planSavedLegacyWrite(&st, cur, ref, refRaw)
		}
		out = append(out, st)
	}
	return out
}

// savedLegacyReference is the reference's (HKCU's) SavedLegacySettings: its bytes and settings,
// or why none can be copied (msg; absent when HKCU has none, which leaves the accounts alone).
func savedLegacyReference(hr *HostResult, ref wininet.Settings) (_ wininet.Settings, raw []byte, msg string, absent bool) {
	switch rs := hr.SavedLegacy[AccountCurrentUser]; {
	case hr.SavedLegacy == nil || rs == nil:
		return ref, nil, "not written: the SavedLegacySettings were not read", false
	case !rs.Present:
		return ref, nil, "left alone: the reference (HKCU of the connecting account) has no " + SavedLegacyValue, true
	case rs.DecodeError != "":
		return ref, nil, "not written: the reference's " + SavedLegacyValue + " does not decode: " + rs.DecodeError, false
	default:
		b, err := currentBytes(rs)
		if err == nil {
			ref, err = wininet.Decode(b)
		}
		if err != nil {
			return ref, b, "not written: the reference's " + SavedLegacyValue + " does not decode: " + err.Error(), false
		}
		return ref, b, "", false
	}
}

// planSavedLegacyWrite completes the step of an account whose SavedLegacySettings was read and
// decodes: left alone when equivalent to the reference, else the reference written.
func planSavedLegacyWrite(st *Step, cur *Settings, ref wininet.Settings, refRaw []byte) {
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

// currentBytes returns the value an audit finding describes (nil = absent): the bytes read from the
// host when this process read them, else (a report read back from JSON) its hex.
func currentBytes(s *Settings) ([]byte, error) {
	if !s.Present {
		return nil, nil
	}
	if s.read {
		return bytes.Clone(s.bytes), nil
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
