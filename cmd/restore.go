package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
)

func (a *app) newRestoreCmd() *cobra.Command {
	o := &fixOptions{}
	c := &cobra.Command{
		Use:   "restore -i INVENTORY [--backup FILE] [--run ID] [--host PATTERN] [--apply [--yes]]",
		Short: "Put back the values a fix run recorded in the backup file (dry run unless --apply)",
		Long: `restore reads the backup file, selects the records of one run (--run; default: the latest fix run) and
of the hosts given (--host, glob patterns; default: all), audits those hosts and puts each recorded previous
value back, deleting the value where it was absent. It backs up, confirms, writes, verifies, rolls back and
logs exactly as fix does (its own backup records carry command "restore", so a restore can be restored).

A value that holds neither what the run wrote nor the recorded previous value was changed after the run
(by an administrator or a later run): it is refused ("changed since run ...": audit again, or restore the
later run first) unless --force, which puts the recorded value back over that change. Hosts the audit
could not reach are refused; a host without a usable reference (HKCU) is restored all the same.`,
		Example: `  dcproxy restore -i dcs.yaml                                  # plan for the latest fix run
  dcproxy restore -i dcs.yaml --run 20261127T020000Z-1a2b3c --host 'dc0*' --apply`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(o.configFile, c.Flags(), a.env)
			if err != nil {
				return err
			}
			return a.remediate(c.Context(), cfg, o, "restore")
		},
	}
	f := c.Flags()
	addConnFlags(f, &o.auditOptions)
	addFixFlags(f, o)
	f.BoolVar(&o.list, "list", false, "list the runs in the backup file (id, date, operator, hosts, values) and exit")
	f.StringVar(&o.run, "run", "", "run id whose records are restored (default: the latest fix run in the backup file)")
	f.BoolVar(&o.force, "force", false, "also put back values that changed since the run wrote them (overwrites those later changes)")
	f.StringSliceVar(&o.hosts, "host", nil, "only these hosts (glob patterns on the recorded host name; repeatable, comma-separated)")
	return c
}

// restoreSelection returns the records of the chosen run and hosts, and the inventory hosts they
// name. Recorded hosts missing from the inventory cannot be reached: they are named on stderr.
func (a *app) restoreSelection(o *fixOptions, backupPath string) ([]fleet.BackupRecord, *auditEnv, error) {
	// A damaged line (a torn write) costs only its own record: it is skipped with a warning.
	all, err := fleet.BackupReader{Warn: func(w fleet.BackupWarning) {
		fmt.Fprintf(a.stderr, "dcproxy restore: warning: %s\n", w)
	}}.Read(backupPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, usageErr("restore: no backup file %s (give --backup FILE)", backupPath)
	}
	if err != nil {
		return nil, nil, usageErr("restore: %w", err)
	}
	run := o.run
	if run == "" {
		if run = fleet.LatestRun(all, "fix"); run == "" {
			return nil, nil, usageErr("restore: %s holds no fix run; give --run ID", backupPath)
		}
	}
	if err := checkGlobs("--host", o.hosts); err != nil {
		return nil, nil, err
	}
	var recs []fleet.BackupRecord
	for _, r := range all {
		if r.RunID != run {
			continue
		}
		if len(o.hosts) > 0 && !matchAny(o.hosts, r.Host) {
			continue
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 && o.run != "" && !hasRun(all, o.run) {
		var b strings.Builder
		listRuns(&b, summarizeRuns(all, nil))
		return nil, nil, usageErr("restore: %s has no run %s; the runs it holds (newest first):\n%s", backupPath, run, strings.TrimRight(b.String(), "\n"))
	}
	if len(recs) == 0 {
		return nil, nil, usageErr("restore: %s has no records of run %s for the hosts given", backupPath, run)
	}
	inv, err := loadInventory(o.inventory)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, r := range recs {
		want[strings.ToLower(r.Host)] = true
	}
	var hosts []inventory.Host
	for _, h := range inv {
		if want[strings.ToLower(h.Name)] {
			hosts = append(hosts, h)
			delete(want, strings.ToLower(h.Name))
		}
	}
	for h := range want {
		fmt.Fprintf(a.stderr, "dcproxy restore: warning: host %s of run %s is not in the inventory: not restored\n", h, run)
	}
	if len(hosts) == 0 {
		return nil, nil, usageErr("restore: no host of run %s is in the inventory %s", run, o.inventory)
	}
	fmt.Fprintf(a.stderr, "dcproxy restore: run %s: %d records on %d hosts\n", run, len(recs), len(hosts))
	return recs, &auditEnv{hosts: hosts}, nil
}

func hasRun(recs []fleet.BackupRecord, id string) bool {
	for _, r := range recs {
		if r.RunID == id {
			return true
		}
	}
	return false
}
