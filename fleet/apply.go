package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/reg"
)

// ApplyOptions configure Apply. Options supplies the dialer, targets, timeouts, retries, probe,
// declared reference (for the re-check) and logger; its Concurrency is not used, and its Progress,
// when set, is called after each host Apply writes to has finished (from that host's goroutine,
// with the host's result and remediation rows).
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

// The on-host `reg export` files go to %ProgramData%\dcproxy\backup (C:\ProgramData\dcproxy\backup),
// created by the export's own command line when it is missing. Not %SystemRoot%\Temp: Disk Cleanup
// and Storage Sense empty it, and a backup must still be there when an administrator looks for it
// months later. The folder inherits %ProgramData%'s default ACL (Administrators and SYSTEM full
// control; Users read, and may create files there); the files hold only proxy settings, and restore
// works from the local backup records, never from them.
const (
	HostBackupBase = "ProgramData"    // environment variable of the host's shell
	HostBackupDir  = `dcproxy\backup` // below it
)

// Apply carries out plans (from PlanFix or PlanRestore, in the order of rep.Hosts) on the hosts
// with at most opt.Concurrency hosts in flight, and updates rep in place: every host gets its
// remediation rows, and a host that was written gets the checks and status of its re-check.
//
// Per host, through one shell: a fresh read (the host must still hold the audited values, else it
// is skipped), `reg export` of each target key to %ProgramData%\dcproxy\backup, one backup record per
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
	var done atomicCounter
	finished := func(i int) {
		if opt.Progress != nil {
			opt.Progress(done.inc(), rep.Hosts[i])
		}
	}
	forEachHost(ctx, len(todo), opt.Concurrency, hostJob{
		run: func(k int) {
			i := todo[k]
			start := opt.Now()
			rep.Hosts[i] = applyHost(ctx, byName[strings.ToLower(plans[i].Host)], rep.Hosts[i], plans[i], &opt)
			rep.Hosts[i].DurationMS += opt.Now().Sub(start).Milliseconds()
			finished(i)
		},
		notStarted: func(k int) {
			markWrites(&rep.Hosts[todo[k]], plans[todo[k]], OutcomeSkipped, "not written: not started, the run was interrupted")
		},
		panicked: func(k int, v any, stack []byte) {
			i := todo[k]
			opt.Logger.Error("panic while writing host", "host", rep.Hosts[i].Host, "panic", v, "stack", string(stack))
			markWrites(&rep.Hosts[i], plans[i], OutcomeFailed, fmt.Sprintf("internal error: %v; check the host by hand, its previous values are in %s", v, opt.Backups.Path()))
			finished(i)
		},
	})
	rep.FinishedAt = opt.Now().UTC()
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	rep.summarize()
	return nil
}

// markWrites sets the outcome of the writing rows of a host.
func markWrites(hr *HostResult, p HostPlan, outcome Outcome, msg string) {
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

// applyHost carries out one host's plan in four steps: precheck (a fresh read must still show the
// audited values), backup (on the host, then one local record per value), write and verify, and,
// when verification fails, rollback. Any failure before the backups are recorded leaves the host
// untouched and is reported as skipped.
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
	steps, why := x.precheck(hctx)
	if why != "" {
		return skip(why)
	}
	if why := x.backup(hctx, steps); why != "" {
		return skip(why)
	}
	if ctx.Err() != nil {
		return skip("the run was interrupted before any write (the on-host backup was taken)")
	}

	// Past this point the host is written: finish write, verification and rollback whatever ctx says.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), opt.WriteTimeout)
	defer wcancel()
	checked, attempted, failure := x.writeAndVerify(wctx, prev, steps)
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
	return x.rollbackHost(rctx, res, attempted, failure)
}

// precheck reads the host again: every value the plan writes, and every value it depends on
// (HostPlan.Expect), must still hold what the audit saw. It returns the plan's writing steps, or
// why the host is not written.
func (x *hostRun) precheck(ctx context.Context) (steps []int, skip string) {
	now, err := readValues(ctx, x.runner, x.saved)
	if err != nil {
		return nil, "cannot read the current values: " + err.Error()
	}
	for j, st := range x.plan.Steps {
		if !st.writes() {
			continue
		}
		if cur, ok := now[st.id()]; !ok || !sameValue(cur, st.Current) {
			return nil, fmt.Sprintf("%s %s changed since it was audited (now %s): audit again", st.Account, st.Value, Describe(cur))
		}
		steps = append(steps, j)
	}
	for _, id := range slices.Sorted(maps.Keys(x.plan.Expect)) {
		if cur, ok := now[id]; !ok || !sameValue(cur, x.plan.Expect[id]) {
			what := "the reference (HKCU) " + ValueName
			if id != AccountCurrentUser {
				what = "the reference (HKCU) " + SavedLegacyValue
			}
			return nil, fmt.Sprintf("%s changed since it was audited (now %s): audit again", what, Describe(cur))
		}
	}
	return steps, ""
}

// backup exports the target keys on the host and appends one local backup record per value,
// fsynced, before anything is written (mutate refuses a write without its record). It returns why
// the host is not written, or "".
func (x *hostRun) backup(ctx context.Context, steps []int) (skip string) {
	files, err := x.hostBackup(ctx, steps)
	if err != nil {
		return "the on-host backup failed: " + err.Error()
	}
	for _, j := range steps {
		st := x.plan.Steps[j]
		rec := BackupRecord{RunID: x.opt.RunID, Command: x.opt.Command, Time: x.opt.Now().UTC(), Host: x.host.Name, Address: x.host.Address,
			Account: st.Account, Key: st.Key, Value: st.Value, Absent: st.Current == nil, HostFile: files[st.Account]}
		if st.Current != nil {
			rec.Previous = hexUpper(st.Current)
		}
		if st.Desired != nil {
			rec.New = hexUpper(st.Desired)
		}
		if err := x.opt.Backups.Append(rec); err != nil {
			return "the local backup record could not be written: " + err.Error()
		}
		x.recorded[st.id()] = true
		x.rows[j].Backup = files[st.Account]
	}
	return ""
}

// writeAndVerify writes the steps, reads every value back (compared byte for byte) and re-checks
// the host (the endpoint probe included). failure is "" when all of it passed; checked is then the
// host's new result. attempted are the steps whose command was sent (what a rollback must undo).
func (x *hostRun) writeAndVerify(ctx context.Context, prev HostResult, steps []int) (checked HostResult, attempted []int, failure string) {
	failure, attempted = x.write(ctx, steps)
	after, rerr := readValues(ctx, x.runner, x.saved)
	for _, j := range attempted {
		st := x.plan.Steps[j]
		outcome, msg := OutcomeVerified, "read back identical"
		switch {
		case rerr != nil:
			outcome, msg = auditUnknown, "read back failed: "+rerr.Error()
		case !sameValue(after[st.id()], st.Desired):
			outcome, msg = auditMismatch, "read back "+hexOrAbsent(after[st.id()])
			if failure == "" {
				failure = fmt.Sprintf("%s %s reads back %s after the write", st.Account, st.Value, Describe(after[st.id()]))
			}
		}
		x.audit(st, st.Action, st.Current, st.Desired, outcome, msg)
	}
	if rerr != nil && failure == "" {
		failure = "read back failed: " + rerr.Error()
	}
	if failure != "" {
		return HostResult{}, attempted, failure
	}
	checked = evaluate(ctx, x.runner, prev, after, x.opt.Options)
	if x.opt.RollbackOnProbeRegression && !x.opt.Probe.Disabled {
		failure = probeRegression(&checked, x.plan, attempted)
	}
	return checked, attempted, failure
}

// probeRegression names the first written account whose endpoint probe passed before the write and
// does not pass after it ("" when there is none).
func probeRegression(checked *HostResult, p HostPlan, attempted []int) string {
	for _, j := range attempted {
		st := p.Steps[j]
		ep := findCheck(checked, "endpoint."+strings.ToLower(st.Account))
		if st.ProbeOK && (ep == nil || ep.Status != CheckPass) {
			msg := "no probe result"
			if ep != nil {
				msg = ep.Message
			}
			return fmt.Sprintf("the endpoint probe of %s passed before the write and fails after it: %s", st.Account, msg)
		}
	}
	return ""
}

// rollbackHost undoes the attempted writes after a failed verification and reports the outcome
// in res: rolled back (the host is as the audit found it), or failed with the way back named.
func (x *hostRun) rollbackHost(ctx context.Context, res HostResult, attempted []int, failure string) HostResult {
	p := x.plan
	intact, rbErr := x.rollback(ctx, attempted)
	if rbErr != nil {
		msg := fmt.Sprintf("VERIFICATION FAILED: %s; ROLLBACK FAILED: %v; the previous values are in %s (run %s): check the host and run dcproxy restore", failure, rbErr, x.opt.Backups.Path(), x.opt.RunID)
		markWrites(&res, p, OutcomeFailed, msg)
		res.Status, res.Error = StatusError, &HostError{Kind: ErrorKindError, Message: msg}
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
			outcome, msg = auditUnknown, "read back failed: "+err.Error()
			if failed {
				errs = append(errs, ce)
			}
		case !sameValue(after[st.id()], st.Current):
			outcome, msg = auditMismatch, "read back "+hexOrAbsent(after[st.id()])
			if failed {
				errs = append(errs, ce)
			}
			errs = append(errs, fmt.Sprintf("%s %s reads back %s, not its previous value", st.Account, st.Value, Describe(after[st.id()])))
		case failed && st.Current != nil:
			msg = "the rollback command failed (" + ce + ") but the value reads back as its previous value: verified"
			intact[st.id()] = "the rollback command failed, the read-back shows the previous value: " + ce
		}
		x.audit(st, auditRollback, st.Desired, st.Current, outcome, msg)
	}
	if err != nil {
		errs = append(errs, "read back: "+err.Error())
	}
	if len(errs) > 0 {
		return intact, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return intact, nil
}

// The audit log's own words beyond the report's actions and outcomes (AuditEntry): a rollback, and
// a read-back that did not verify.
const (
	auditRollback Action  = "rollback" // the previous value put back
	auditMismatch Outcome = "mismatch" // read back other bytes than written
	auditUnknown  Outcome = "unknown"  // the read-back failed
)

// audit appends to the audit log.
func (x *hostRun) audit(st Step, action Action, old, new []byte, outcome Outcome, msg string) {
	e := AuditEntry{Time: x.opt.Now().UTC(), RunID: x.opt.RunID, Command: x.opt.Command, Operator: x.opt.Operator,
		Host: x.host.Name, Account: st.Account, Key: st.Key, Value: st.Value, Action: string(action),
		Old: hexOrAbsent(old), New: hexOrAbsent(new), Outcome: string(outcome), Message: msg}
	if err := x.opt.AuditLog.Append(e); err != nil {
		x.log.Error("audit log write failed", "err", err, "entry", e)
	}
}

// hostBackup exports each target key to %ProgramData%\dcproxy\backup with one command line and returns
// the file per account (one export per account: its key holds both DefaultConnectionSettings and
// SavedLegacySettings). A key that does not exist has nothing to export (no file); any other
// failure is an error.
func (x *hostRun) hostBackup(ctx context.Context, steps []int) (map[string]string, error) {
	var exports []reg.Export
	var accounts []string
	seen := map[string]bool{}
	for _, j := range steps {
		if st := x.plan.Steps[j]; !seen[st.Account] {
			seen[st.Account] = true
			accounts = append(accounts, st.Account)
			exports = append(exports, reg.Export{Key: st.Key, File: "DefaultConnectionSettings-" + accountFileTag(st.Account) + "-" + x.opt.RunID + ".reg"})
		}
	}
	line, err := reg.BatchExportCommand(HostBackupBase, HostBackupDir, exports)
	if err != nil {
		return nil, err
	}
	out, err := x.mutate(ctx, "", line)
	if err != nil {
		return nil, err
	}
	root, status, err := reg.ParseBatchExport(string(out.Stdout), len(exports))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
	}
	files := map[string]string{}
	for n, e := range exports {
		switch status[n] {
		case reg.Exported:
			files[accounts[n]] = root + `\` + HostBackupDir + `\` + e.File
		case reg.ExportNoKey:
			// The key does not exist: nothing to export; the local record says "absent".
		case reg.ExportFailed:
			return nil, fmt.Errorf("reg export %s to %s\\%s failed: %s", e.Key, root, HostBackupDir, firstLine(out.Stderr))
		default:
			return nil, fmt.Errorf("%w: no result marker for the export of %s", remote.ErrProtocol, e.Key)
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
