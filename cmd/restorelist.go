package cmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
)

// runSummary is one run of the backup file as restore --list shows it.
type runSummary struct {
	id, command string
	first, last time.Time
	operator    string
	hosts       map[string]bool
	values      map[string]bool
	records     int
}

// summarizeRuns groups backup records by run, newest first; operators come from the audit log
// (ops: run id -> operator), which the backup records do not carry.
func summarizeRuns(recs []fleet.BackupRecord, ops map[string]string) []*runSummary {
	by := map[string]*runSummary{}
	for _, r := range recs {
		s := by[r.RunID]
		if s == nil {
			s = &runSummary{id: r.RunID, command: r.Command, first: r.Time, last: r.Time, hosts: map[string]bool{}, values: map[string]bool{},
				operator: ops[r.RunID]}
			by[r.RunID] = s
		}
		if r.Time.Before(s.first) {
			s.first = r.Time
		}
		if r.Time.After(s.last) {
			s.last = r.Time
		}
		s.hosts[r.Host] = true
		s.values[r.Account+`\`+r.Value] = true
		s.records++
	}
	out := make([]*runSummary, 0, len(by))
	for _, s := range by {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first.After(out[j].first) })
	return out
}

// readOperators reads run id -> operator from the audit log (JSON lines of fleet.AuditEntry); a
// missing log gives none, a damaged line is skipped.
func readOperators(path string) map[string]string {
	ops := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return ops
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e fleet.AuditEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.RunID != "" && e.Operator != "" {
			ops[e.RunID] = e.Operator
		}
	}
	return ops
}

// listRuns writes the runs of the backup file: id, command, date, operator, hosts and values.
func listRuns(w io.Writer, runs []*runSummary) {
	for _, s := range runs {
		hosts := sortedKeys(s.hosts)
		values := sortedKeys(s.values)
		op := s.operator
		if op == "" {
			op = "unknown (no audit log entry)"
		}
		fmt.Fprintf(w, "%s  %s  %s  by %s\n    %d %s: %s\n    %d %s: %s\n", s.id, s.command, s.first.Local().Format("2006-01-02 15:04:05 MST"), report.OneLine(op),
			len(hosts), plural(len(hosts), "host", "hosts"), listHosts(hosts), len(values), plural(len(values), "value", "values"), strings.Join(values, ", "))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, report.OneLine(k))
	}
	sort.Strings(out)
	return out
}

// restoreList is restore --list: the runs recorded in the backup file, newest first.
func (a *app) restoreList(backupPath, auditPath string) error {
	recs, err := fleet.ReadBackups(backupPath)
	if errors.Is(err, fs.ErrNotExist) {
		return usageErr("restore --list: no backup file %s (give --backup FILE)", backupPath)
	}
	if err != nil {
		return usageErr("restore --list: %w", err)
	}
	runs := summarizeRuns(recs, readOperators(auditPath))
	if len(runs) == 0 {
		fmt.Fprintf(a.stdout, "%s holds no runs\n", backupPath)
		return nil
	}
	fmt.Fprintf(a.stdout, "%d %s in %s (newest first):\n", len(runs), plural(len(runs), "run", "runs"), backupPath)
	listRuns(a.stdout, runs)
	return nil
}
