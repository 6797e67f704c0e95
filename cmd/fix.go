package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
)

// fixOptions are the fix and restore commands' inputs that are not configuration keys.
type fixOptions struct {
	auditOptions
	apply bool
	yes   bool
	run   string   // restore: the run whose records are put back
	list  bool     // restore: list the runs of the backup file
	force bool     // restore: put back values changed since the run too
	hosts []string // restore: only these hosts (glob patterns)
}

func addFixFlags(f *pflag.FlagSet, o *fixOptions) {
	f.BoolVar(&o.apply, "apply", false, "write (without it: print the plan, write nothing)")
	f.BoolVar(&o.yes, "yes", false, "do not ask for confirmation (required with --apply when stdin is not a terminal)")
	k := keyFlags{f}
	k.bind("fix-concurrency", "", "fix.concurrency", "hosts written at once")
	k.bind("backup", "", "fix.backup_file", "local backup file (JSON lines; default: the user's state dir, see configs/dcproxy.yaml fix.backup_file)")
	k.bind("audit-log", "", "fix.audit_log", "append-only audit log of every write (default: audit.jsonl beside the backup file)")
	addFormatFlags(f)
}

func (a *app) newFixCmd() *cobra.Command {
	o := &fixOptions{}
	c := &cobra.Command{
		Use:   "fix -i INVENTORY [--apply [--yes]] [--backup FILE]",
		Short: "Copy the reference proxy settings to LOCAL_SYSTEM and LOCAL_SERVICE where they differ (dry run unless --apply)",
		Long: `fix audits the fleet, then plans per host and account what Microsoft's procedure does by hand: copy the
CURRENT_USER DefaultConnectionSettings (or the declared reference) to LOCAL_SYSTEM and LOCAL_SERVICE. Only
accounts whose decoded settings differ are written. Without --apply it prints the plan and writes nothing.

With --apply, per host: reg export of each target key to %ProgramData%\dcproxy\backup, a backup record per
account appended and fsynced to the backup file, then reg add, read-back compared byte for byte and the
endpoint probe; a failed verification (or a probe that passed before and fails after) restores the previous
value. Refused: hosts the audit could not check, a missing reference, a direct-only reference (unless
--allow-direct), values that do not decode, values too large for one reg add command line (cmd.exe's
8191 characters: about 4 KB of data) to write or to put back. A host whose reference (HKCU) or
target values changed since the audit is skipped. Every write goes to the audit log. Undo with
dcproxy restore.

With --saved-legacy-settings (fix.saved_legacy_settings) the reference's SavedLegacySettings is copied too,
with the same reads, backups, verification and rollback; a reference without one leaves the accounts' alone.`,
		Example: `  dcproxy fix -i dcs.yaml                         # plan only
  dcproxy fix -i dcs.yaml --apply                 # asks for confirmation
  dcproxy fix -i dcs.yaml --apply --yes --backup /srv/dcproxy/backups.jsonl -o fix.json`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(o.configFile, c.Flags(), a.env)
			if err != nil {
				return err
			}
			return a.remediate(c.Context(), cfg, o, "fix")
		},
	}
	f := c.Flags()
	addConnFlags(f, &o.auditOptions)
	addFixFlags(f, o)
	f.StringSliceVar(&o.names, "host", nil, "only hosts with these inventory names (glob patterns on the name only, never site or tag; repeatable)")
	k := keyFlags{f}
	k.bind("allow-direct", "", "fix.allow_direct", "allow copying a reference without any proxy over the service accounts")
	k.bind("saved-legacy-settings", "", "fix.saved_legacy_settings", "also copy the reference's SavedLegacySettings to the service accounts")
	return c
}

// stdinTTY reports whether a confirmation can be asked.
func (a *app) stdinTTY() bool { return a.stdin != nil && isTerminal(a.stdin) }

// remediate is fix and restore: audit, plan, print the plan, and with --apply confirm, write,
// verify and report.
func (a *app) remediate(ctx context.Context, cfg *Config, o *fixOptions, command string) error {
	if o.apply && !o.yes && !a.stdinTTY() {
		return usageErr("%s --apply: stdin is not a terminal to confirm on; add --yes to write without confirmation", command)
	}
	backupPath, auditPath, err := a.journalPaths(cfg)
	if err != nil {
		return err
	}
	if o.list {
		return a.restoreList(backupPath, auditPath)
	}
	for _, p := range []string{backupPath, auditPath} {
		if err := fleet.CheckJournalFile(p); errors.Is(err, fleet.ErrJournalMode) {
			return usageErr("%s: %w", command, err)
		}
	}
	var recs []fleet.BackupRecord
	var env *auditEnv
	if command == "restore" {
		if recs, env, err = a.restoreSelection(o, backupPath); err != nil {
			return err
		}
	}
	r, err := a.prepareAudit(cfg, &o.auditOptions, env)
	if err != nil {
		return err
	}
	defer r.closeLog()
	// SavedLegacySettings are read (in the same one read per host) when the fix is asked to write them
	// or the restore has records of them to put back.
	r.opt.SavedLegacySettings = command == "fix" && cfg.Fix.SavedLegacySettings
	for _, rec := range recs {
		if rec.Value == fleet.SavedLegacyValue {
			r.opt.SavedLegacySettings = true
		}
	}
	rep := a.runAudit(ctx, r)
	a.setReport(rep)
	defer func() { a.interrupted = rep.Interrupted }() // Apply may be interrupted too
	runID := fleet.NewRunID(time.Now())
	rep.Command, rep.RunID = command, runID
	var plans []fleet.HostPlan
	if command == "fix" {
		plans = fleet.PlanFix(rep, fleet.PlanOptions{Reference: r.opt.Reference, AllowDirect: cfg.Fix.AllowDirect,
			SavedLegacySettings: cfg.Fix.SavedLegacySettings})
	} else {
		plans = fleet.PlanRestore(rep, recs, fleet.RestoreOptions{Force: o.force})
	}
	writes, hosts := 0, 0
	for i, p := range plans {
		rep.Hosts[i].Remediation = p.Remediation()
		if n := p.Writes(); n > 0 {
			writes += n
			hosts++
		}
	}
	view := newPlanView(command, runID, rep, plans)
	if !o.quiet {
		width := 0
		if a.stderrTTY {
			width = stderrWidth()
		}
		view.render(a.stderr, width, !a.stderrTTY)
	}
	switch {
	case writes == 0:
		fmt.Fprintf(a.stderr, "dcproxy %s: nothing to do\n", command)
	case rep.Interrupted:
		fmt.Fprintf(a.stderr, "dcproxy %s: interrupted during the audit: nothing written\n", command)
	case !o.apply:
		fmt.Fprintf(a.stderr, "dcproxy %s: dry run, nothing written; --apply writes %d values on %d hosts\n", command, writes, hosts)
	default:
		if !o.yes {
			ok, err := a.confirm(fmt.Sprintf("Write %d values on %d hosts (backups: %s)? Type yes to continue: ", writes, hosts, backupPath))
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintf(a.stderr, "dcproxy %s: not confirmed: nothing written\n", command)
				return a.writeFixReport(cfg, o, r, rep, view)
			}
		}
		if err := a.apply(ctx, cfg, r, rep, plans, view, command, runID, backupPath, auditPath); err != nil {
			return err
		}
	}
	return a.writeFixReport(cfg, o, r, rep, view)
}

// writeFixReport writes the report. The table on a terminal is cut to the hosts the run writes to
// (unless --all), followed by one line on the others; every other output holds every host.
func (a *app) writeFixReport(cfg *Config, o *fixOptions, r *auditRun, rep *fleet.Report, view *planView) error {
	if format, err := pickFormat(cfg, a.stdoutTTY); err == nil && format == report.FormatTable && a.stdoutTTY && cfg.Output == "" && !o.all {
		if cut := touchedReport(rep, view); cut != nil {
			if err := a.writeReport(r.renderer, cut, ""); err != nil {
				return err
			}
			w, _ := a.termSize()
			_, err := fmt.Fprintln(a.stdout, view.notShownLine(w))
			return err
		}
	}
	return a.writeReport(r.renderer, rep, cfg.Output)
}

// apply opens the journals and writes; it reports failed verifications loudly on stderr.
func (a *app) apply(ctx context.Context, cfg *Config, r *auditRun, rep *fleet.Report, plans []fleet.HostPlan, view *planView, command, runID, backupPath, auditPath string) error {
	backups, err := fleet.OpenJournal(backupPath)
	if errors.Is(err, fleet.ErrJournalMode) {
		return usageErr("backup file: %w", err)
	}
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	defer backups.Close()
	alog, err := fleet.OpenJournal(auditPath)
	if errors.Is(err, fleet.ErrJournalMode) {
		return usageErr("audit log: %w", err)
	}
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer alog.Close()
	for _, j := range []*fleet.Journal{backups, alog} {
		if t := j.Torn(); t.Bytes > 0 {
			fmt.Fprintf(a.stderr, "dcproxy %s: warning: %s ended in a torn write: its last %d bytes (an incomplete line) were moved to %s\n", command, j.Path(), t.Bytes, t.SideFile)
		}
	}
	var touched []string
	for _, p := range plans {
		if view.touched[p.Host] {
			touched = append(touched, p.Host)
		}
	}
	prog := newWriteProgress(a.stderr, a.stderrTTY && !r.quiet, touched)
	opt := r.opt
	opt.Progress = prog.update
	err = fleet.Apply(ctx, rep, r.hosts, plans, fleet.ApplyOptions{
		Options: opt, Concurrency: cfg.Fix.Concurrency, WriteTimeout: cfg.Fix.WriteTimeout,
		RunID: runID, Command: command, Operator: operator(cfg), Backups: backups, AuditLog: alog,
		RollbackOnProbeRegression: command == "fix",
	})
	prog.finish()
	if err != nil {
		return err
	}
	a.journals = []string{backupPath, auditPath}
	counts := map[fleet.Outcome]int{}
	for _, h := range rep.Hosts {
		for _, m := range h.Remediation {
			if m.Action != fleet.ActionWrite && m.Action != fleet.ActionDelete {
				continue
			}
			counts[m.Outcome]++
			if m.Outcome == fleet.OutcomeRolledBack || m.Outcome == fleet.OutcomeFailed {
				fmt.Fprintf(a.stderr, "dcproxy %s: %s %s: %s: %s\n", command, h.Host, m.Account, strings.ToUpper(string(m.Outcome)), report.OneLine(m.Message))
			}
		}
	}
	fmt.Fprintf(a.stderr, "dcproxy %s: run %s: %d verified, %d rolled back, %d failed, %d not written; backups in %s, audit log %s\n",
		command, runID, counts[fleet.OutcomeVerified], counts[fleet.OutcomeRolledBack], counts[fleet.OutcomeFailed], counts[fleet.OutcomeSkipped], backupPath, auditPath)
	if rep.Interrupted {
		fmt.Fprintf(a.stderr, "dcproxy %s: interrupted: hosts not yet backed up were not written (skipped); every host that was written finished its verification\n", command)
	}
	return nil
}

// confirm asks on the terminal; only "yes" confirms.
func (a *app) confirm(prompt string) (bool, error) {
	fmt.Fprint(a.stderr, prompt)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, fmt.Errorf("confirmation: %w", err)
	}
	return strings.EqualFold(strings.TrimSpace(line), "yes"), nil
}

// operator names who writes: the local OS user and the connecting account.
func operator(cfg *Config) string {
	local := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		local = u.Username
	}
	acct := cfg.User
	if len(cfg.Credentials) > 0 {
		acct += " (or a named credential per host)"
	}
	return local + " as " + acct
}

// journalPaths returns the backup file and the audit log: configured, or in the user's state dir.
func (a *app) journalPaths(cfg *Config) (string, string, error) {
	backup := cfg.Fix.BackupFile
	if backup == "" {
		dir, err := stateDir(a.env)
		if err != nil {
			return "", "", usageErr("%w: give --backup FILE", err)
		}
		backup = filepath.Join(dir, "backups.jsonl")
	}
	alog := cfg.Fix.AuditLog
	if alog == "" {
		alog = filepath.Join(filepath.Dir(backup), "audit.jsonl")
	}
	return backup, alog, nil
}

// stateDir is dcproxy's directory for state that must survive: %LOCALAPPDATA%\dcproxy on Windows,
// else $XDG_STATE_HOME/dcproxy or ~/.local/state/dcproxy.
func stateDir(env func(string) string) (string, error) {
	if runtime.GOOS == "windows" {
		if d := env("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "dcproxy"), nil
		}
		return "", fmt.Errorf("no state directory (LOCALAPPDATA is not set)")
	}
	if d := env("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "dcproxy"), nil
	}
	home := env("HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = h
		}
	}
	if home == "" {
		return "", fmt.Errorf("no state directory (neither XDG_STATE_HOME nor HOME is set)")
	}
	return filepath.Join(home, ".local", "state", "dcproxy"), nil
}

func hexOr(b []byte) string {
	if b == nil {
		return "(absent)"
	}
	return fmt.Sprintf("%X", b)
}
